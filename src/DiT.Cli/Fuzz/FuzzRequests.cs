using System.Globalization;
using System.Text;

namespace DiT.Cli.Fuzz;

/// <summary>One fuzz request: what kind it is, where it goes, its raw bytes and how they are sent.</summary>
public sealed record FuzzRequest(string Kind, string Method, string Path, byte[] Bytes, Delivery Delivery);

/// <summary>
/// Random requests against every route of the service, from one seed: malformed JSON, wrong types, repeated keys,
/// broken framing (bad chunk sizes, bodies short of their Content-Length, bodies cut off or stalled, conflicting
/// lengths), oversized bodies, unsupported encodings and charsets, odd methods, paths and headers, and some valid ones.
/// </summary>
public sealed class FuzzRequests(Uri server, string? apiKey, Random random)
{
    static readonly (string Method, string Path)[] Routes =
    [
        ("POST", "/generate"), ("POST", "/admin/finetune"), ("GET", "/generate/limits"), ("GET", "/generate/progress/{id}"),
        ("GET", "/classes"), ("GET", "/model"), ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics"),
        ("GET", "/"), ("GET", "/playground.js"), ("GET", "/swagger/index.html"), ("GET", "/swagger/v1/swagger.json"),
        ("GET", "/admin/engine"), ("GET", "/admin/jobs"), ("GET", "/admin/jobs/{id}"), ("DELETE", "/admin/jobs/{id}"),
        ("POST", "/admin/jobs/{id}/resume"), ("POST", "/admin/jobs/{id}/promote"),
    ];

    static readonly string[] Fields =
    [
        "classId", "className", "guidanceScale", "guidanceInterval", "steps", "sampler", "seed", // /generate
        "data", "init", "checkpoint", "preset", "imageChannels", "batchSize", "learningRate", "emaDecay", "checkpointEvery", "imageSize", // /admin/finetune
    ];

    static readonly string[] Values =
    [
        "0", "1", "-1", "3", "1.5", "-0.0", "1e308", "1e-320", "9223372036854775808", "-9223372036854775809", "4294967296",
        "true", "false", "null", "[]", "{}", "[1,2]", "{\"a\":1}", "\"\"", "\"cat\"", "\"ddim\"", "\"euler\"", "\"served\"", "\"scratch\"",
        "\"checkpoint\"", "\"DiT-S/2\"", "\"/etc\"", "\"/etc/passwd\"", "\"../../etc\"", "\"/tmp\\u0000x\"", "\"\\u0000\"", "\"\\ud800\"",
        "\"%00\"", "\"\\n\\r\"", "\"" + new string('x', 5000) + "\"", "NaN", "Infinity", "'x'",
    ];

    public FuzzRequest Next()
    {
        var (method, path) = Routes[random.Next(Routes.Length)];
        path = path.Replace("{id}", Id(), StringComparison.Ordinal);
        int dice = random.Next(100);
        return dice switch
        {
            < 16 => Json("malformed-json", method, path, MalformedJson()),
            < 18 => Raw("invalid-utf8", method, path, "Content-Type: application/json\r\nContent-Length: 13\r\n", [.. "{\"a\":\""u8, .. RandomBytes(5), .. "\"}"u8]),
            < 34 => Json("wrong-types", method, path, Object(random.Next(1, 5))),
            < 40 => Json("repeated-keys", method, path, RepeatedKeys()),
            < 48 => Raw("bad-chunk", method, path, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", Pick("zz", "-1", "ffffffffffffffffff", "1;\x01", "") + "\r\n{}\r\n0\r\n\r\n"),
            < 52 => Raw("cut-off-body", method, path, "Content-Type: application/json\r\nContent-Length: 100\r\n", "{\"classId\":", Delivery.HangUp),
            < 54 => Raw("stalled-body", method, path, "Content-Type: application/json\r\nContent-Length: 100\r\n", "{\"classId\":", Delivery.Stall),
            < 60 => Json("oversized", method, path, $"{{\"className\":\"{new string('x', Pick(20_000, 100_000, 1_100_000))}\"}}"),
            < 66 => Raw("bad-framing", method, path, Pick("Content-Length: abc\r\n", "Content-Length: -5\r\n", "Content-Length: 5\r\nContent-Length: 6\r\n",
                "Content-Length: 99999999999999999999\r\n", "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding: gzip, chunked\r\n"), "{}"),
            < 72 => Json("unsupported-encoding", method, path, "{\"classId\":1}", Pick("Content-Encoding: gzip\r\n", "Content-Encoding: br, gzip\r\n",
                "Content-Type: application/json; charset=utf-16\r\n", "Content-Type: application/json; charset=latin1\r\n", "Content-Type: text/plain\r\n",
                "Content-Type: application/json; charset=\r\n", "Content-Type: \u00ff/\u00ff\r\n")),
            < 78 => Json("odd-method", Pick("PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "CONNECT", "FOO", "get"), path, "{}"),
            < 86 => Json("odd-path", method, Pick(path + "/../../etc/passwd", path + "%00", path + "?x=" + new string('a', 4000), "/admin/%2e%2e/model",
                "/generate/progress/" + new string('z', 70), "/generate/progress/%00%00%00%00%00%00%00%00", "//model", "/MODEL", "/swagger/../admin/engine", "/" + Id()), "{}"),
            < 92 => Json("odd-headers", method, path, "{\"classId\":1}", Pick("X-Api-Key: " + new string('k', 9000) + "\r\n", "X-Api-Key: \u00e9\u00e9\r\n",
                "X-Request-Id: ../../x\r\n", "X-Request-Id: " + Id() + "\r\nX-Request-Id: " + Id() + "\r\n", "Expect: 100-continue\r\n", "Host: evil.example\r\n")),
            < 96 => Raw("bad-request-line", method, path, "", "", Delivery.Whole, Pick("GET / HTTPS/1.1\r\n", "GET / HTTP/1.1.1\r\n", "GET\r\n", "GET /model HTTP/1.1 extra\r\n", "\x00\x01\x02\r\n", "GET /model\r\n", "GET model HTTP/1.1\r\n")),
            _ => Json("valid", "POST", "/generate", $"{{\"classId\":{random.Next(12)},\"steps\":{random.Next(1, 4)},\"seed\":{random.Next(1000)}}}"),
        };
    }

    T Pick<T>(params T[] options) => options[random.Next(options.Length)];

    string Id() => random.Next(3) == 0 ? "x" : Convert.ToHexStringLower(RandomBytes(random.Next(4, 17)));

    /// <summary>An object of known fields with values of any JSON type.</summary>
    string Object(int fields) =>
        "{" + string.Join(",", Enumerable.Range(0, fields).Select(_ => $"\"{Fields[random.Next(Fields.Length)]}\":{Values[random.Next(Values.Length)]}")) + "}";

    string RepeatedKeys()
    {
        var field = Fields[random.Next(Fields.Length)];
        var variant = random.Next(2) == 0 ? field : char.ToUpperInvariant(field[0]) + field[1..];
        return $"{{\"{field}\":1,\"{variant}\":2}}";
    }

    string MalformedJson()
    {
        var valid = Object(random.Next(1, 4));
        return random.Next(8) switch
        {
            0 => valid[..random.Next(valid.Length)],
            1 => valid.Insert(random.Next(valid.Length), Pick("\"", ",", "}", "]", ":", "\\", "\u0000", "/*x*/", "\ufeff")),
            2 => new string('[', Pick(64, 1000, 100_000)),
            3 => "{\"classId\":" + new string('9', 5000) + "}",
            4 => "\ufeff" + valid,
            5 => valid.Replace("\"", "'", StringComparison.Ordinal),
            6 => valid.TrimEnd('}') + ",}",
            _ => "{\"a\":" + Pick("NaN", "-", "01", "1.", ".5", "0x10", "+1", "1e", "tru", "nul") + "}",
        };
    }

    byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A request with a JSON body; <paramref name="headers"/> may replace the Content-Type.</summary>
    FuzzRequest Json(string kind, string method, string path, string body, string headers = "") =>
        Raw(kind, method, path, (headers.Contains("Content-Type", StringComparison.Ordinal) ? "" : "Content-Type: application/json\r\n") + headers
            + $"Content-Length: {Encoding.UTF8.GetByteCount(body).ToString(CultureInfo.InvariantCulture)}\r\n", body);

    FuzzRequest Raw(string kind, string method, string path, string headers, string body, Delivery delivery = Delivery.Whole, string? requestLine = null) =>
        Raw(kind, method, path, headers, Encoding.UTF8.GetBytes(body), delivery, requestLine);

    FuzzRequest Raw(string kind, string method, string path, string headers, byte[] body, Delivery delivery = Delivery.Whole, string? requestLine = null)
    {
        var head = new StringBuilder(requestLine ?? $"{method} {path} HTTP/1.1\r\n");
        if (!headers.Contains("Host:", StringComparison.Ordinal)) head.Append("Host: ").Append(server.Authority).Append("\r\n");
        head.Append("Connection: close\r\n");
        if (apiKey is not null && !headers.Contains("X-Api-Key", StringComparison.Ordinal)) head.Append("X-Api-Key: ").Append(apiKey).Append("\r\n");
        head.Append(headers).Append("\r\n");
        return new FuzzRequest(kind, method, path, [.. Encoding.Latin1.GetBytes(head.ToString()), .. body], delivery);
    }
}
