extern alias cli;

using System.Reflection;
using TorchSharp;

namespace DiT.Api.Tests.Architecture;

/// <summary>
/// TorchSharp 0.107 turns a number passed where libtorch wants a Scalar (<c>x + 1</c>, <c>x * scale</c>, and the
/// alpha of every <c>a + b</c> and <c>a - b</c>) into a Scalar it never disposes. Nothing keeps that object alive
/// during the native call, so a GC on any other thread can finalize it while libtorch still reads it: a rare
/// use-after-free ("Expected false to be true" in c10::Scalar::toFloat) that once turned a test run red.
/// Our code passes Scalars it keeps reachable instead; this test reads the IL.
/// </summary>
public class NativeScalarLifetimeTests
{
    static readonly Assembly[] Ours =
    [
        typeof(DiT.Model.DiTModel).Assembly,
        typeof(DiT.Diffusion.GaussianDiffusion).Assembly,
        typeof(DiT.Training.Trainer).Assembly,
        typeof(DiT.Serving.Engine.GenerationEngine).Assembly,
        typeof(Program).Assembly,
        typeof(cli::DiT.Cli.Fuzz.FuzzRequests).Assembly,
    ];

    [Fact]
    public void NoMethodOfOursHandsLibtorchAScalarThatNothingKeepsAlive()
    {
        var makesTemporaryScalar = TorchSharpMethodsThatMakeTemporaryScalars();
        var offenders = Ours.SelectMany(IlCalls.MethodsOf)
            .SelectMany(method => IlCalls.CalledBy(method)
                .Where(callee => makesTemporaryScalar.Contains(Key(callee)))
                .Select(callee => $"{method.DeclaringType?.FullName}.{method.Name} calls {callee.DeclaringType?.Name}.{callee.Name}({string.Join(", ", callee.GetParameters().Select(p => p.ParameterType.Name))})"))
            .Distinct().Order().ToList();
        Assert.True(offenders.Count == 0, $"{offenders.Count} calls make a Scalar that only the finalizer frees:\n" + string.Join("\n", offenders));
    }

    /// <summary>A module's forward or an optimizer's step is reached through a virtual call, which the test above
    /// cannot follow: so no TorchSharp module or optimizer we create may make temporary Scalars in its overrides.</summary>
    [Fact]
    public void NoTorchSharpModuleOrOptimizerWeCreateMakesTemporaryScalars()
    {
        var torchSharp = typeof(torch).Assembly;
        var makesTemporaryScalar = TorchSharpMethodsThatMakeTemporaryScalars();
        var created = Ours.SelectMany(IlCalls.MethodsOf).SelectMany(IlCalls.CalledBy)
            .Where(callee => callee.DeclaringType?.Assembly == torchSharp)
            .Select(callee => callee is ConstructorInfo ? callee.DeclaringType! : (callee as MethodInfo)?.ReturnType)
            .OfType<Type>()
            .Where(type => type.IsClass && type.Assembly == torchSharp
                           && (typeof(torch.nn.Module).IsAssignableFrom(type) || typeof(torch.optim.Optimizer).IsAssignableFrom(type)))
            .Distinct().ToList();
        Assert.NotEmpty(created); // Linear, LayerNorm, Conv2d, ...: the scan sees them
        var offenders = created
            .SelectMany(type => type.GetMethods(IlCalls.Declared).Where(m => m.GetBaseDefinition() != m && makesTemporaryScalar.Contains(Key(m))))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}").Distinct().Order().ToList();
        Assert.True(offenders.Count == 0, "These TorchSharp overrides make temporary Scalars:\n" + string.Join("\n", offenders));
    }

    /// <summary>The implicit conversions to Scalar, and every TorchSharp method that reaches one.</summary>
    static HashSet<string> TorchSharpMethodsThatMakeTemporaryScalars()
    {
        var torchSharp = typeof(torch).Assembly;
        var callers = new Dictionary<string, List<string>>();
        foreach (var method in IlCalls.MethodsOf(torchSharp))
            foreach (var callee in IlCalls.CalledBy(method).Where(c => c.DeclaringType?.Assembly == torchSharp))
            {
                if (!callers.TryGetValue(Key(callee), out var list)) callers[Key(callee)] = list = [];
                list.Add(Key(method));
            }
        var found = typeof(Scalar).GetMethods().Where(m => m.Name == "op_Implicit").Select(Key).ToHashSet();
        var frontier = new Queue<string>(found);
        while (frontier.TryDequeue(out var next))
            foreach (var caller in callers.GetValueOrDefault(next) ?? [])
                if (found.Add(caller)) frontier.Enqueue(caller);
        return found;
    }

    static string Key(MethodBase method) =>
        $"{method.DeclaringType?.FullName}::{method.Name}({string.Join(",", method.GetParameters().Select(p => p.ParameterType.FullName))})";
}
