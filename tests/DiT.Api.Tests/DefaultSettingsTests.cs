using System.Reflection;
using DiT.Serving.Options;
using DiT.Testing;
using Microsoft.Extensions.Configuration;

namespace DiT.Api.Tests;

/// <summary>One set of defaults: appsettings.json names every Engine and Model option, with the value the options class
/// has in code, so the service and the CLI's in-process engine (which reads the same file) cannot drift apart.</summary>
public sealed class DefaultSettingsTests
{
    static readonly IConfiguration AppSettings = new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(Golden.RepoRoot(), "src", "DiT.Api", "appsettings.json"), optional: false)
        .Build();

    public static TheoryData<string, Type> Sections => new()
    {
        { EngineOptions.Section, typeof(EngineOptions) },
        { ModelOptions.Section, typeof(ModelOptions) },
    };

    [Theory, MemberData(nameof(Sections))]
    public void AppSettingsNamesEveryOptionWithItsCodeDefault(string section, Type type)
    {
        var inCode = Activator.CreateInstance(type)!;
        var bound = AppSettings.GetSection(section).Get(type)!;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            Assert.True(AppSettings.GetSection($"{section}:{property.Name}").Exists(), $"appsettings.json has no {section}:{property.Name}");
            Assert.True(Equals(property.GetValue(inCode), property.GetValue(bound)),
                $"{section}:{property.Name}: appsettings.json says '{property.GetValue(bound)}', the code '{property.GetValue(inCode)}'");
        }
    }
}
