using System.ComponentModel.DataAnnotations;

namespace DiT.Api.Security;

/// <summary>Security headers sent with every response (section "Security"); an empty value sends no header.</summary>
public sealed class SecurityOptions
{
    public const string Section = "Security";
    const string OneLine = "^[^\\r\\n]*$", OneLineError = "Security header values must fit on one line.";

    /// <summary>Content-Security-Policy. The default lets the playground and Swagger UI run and nothing else: scripts and
    /// requests to this origin only, styles from it plus inline ones (Swagger UI inserts a &lt;style&gt; element), images
    /// also from data: (Swagger UI's icons) and blob: (rendered PNGs), no plugins, no framing.</summary>
    [RegularExpression(OneLine, ErrorMessage = OneLineError)] public string? ContentSecurityPolicy { get; set; } =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>X-Frame-Options, for browsers that predate CSP's frame-ancestors.</summary>
    [RegularExpression(OneLine, ErrorMessage = OneLineError)] public string? FrameOptions { get; set; } = "DENY";

    /// <summary>X-Content-Type-Options: browsers must not guess a type other than the one sent.</summary>
    [RegularExpression(OneLine, ErrorMessage = OneLineError)] public string? ContentTypeOptions { get; set; } = "nosniff";

    /// <summary>Referrer-Policy: the playground's URLs carry nothing worth leaking, but nothing needs them either.</summary>
    [RegularExpression(OneLine, ErrorMessage = OneLineError)] public string? ReferrerPolicy { get; set; } = "no-referrer";

    public IEnumerable<KeyValuePair<string, string>> Headers()
    {
        if (!string.IsNullOrWhiteSpace(ContentSecurityPolicy)) yield return new("Content-Security-Policy", ContentSecurityPolicy);
        if (!string.IsNullOrWhiteSpace(FrameOptions)) yield return new("X-Frame-Options", FrameOptions);
        if (!string.IsNullOrWhiteSpace(ContentTypeOptions)) yield return new("X-Content-Type-Options", ContentTypeOptions);
        if (!string.IsNullOrWhiteSpace(ReferrerPolicy)) yield return new("Referrer-Policy", ReferrerPolicy);
    }
}
