using System.Text;
using System.Xml.Linq;
using DiT.Serving.Engine;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.Metadata.Profiles.Xmp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiT.Api.Imaging;

/// <summary>
/// Writes engine output (grey or RGB) as png, jpeg or webp with the parameters inside: PNG text chunks
/// <c>parameters</c> (A1111) and <c>dit</c> (JSON); for jpeg and webp the A1111 text as EXIF UserComment (where A1111
/// puts it) and both in an XMP packet. Runs off the engine thread.
/// </summary>
public static class ImageEncoder
{
    public static readonly XNamespace XmpNamespace = "urn:x-dit:parameters:1.0";

    // Text is never compressed (zTXt), so a browser can read it without inflating.
    static readonly PngEncoder Png = new() { CompressionLevel = PngCompressionLevel.BestSpeed, TextCompressionThreshold = int.MaxValue };

    public static byte[] Encode(RawImage raw, OutputFormat output, ImageParameters parameters)
    {
        using var image = Load(raw);
        if (output.Format is ImageFormat.Png)
        {
            var text = image.Metadata.GetPngMetadata().TextData;
            text.Add(new PngTextData(ImageParameters.TextKeyword, parameters.Text, "", ""));
            text.Add(new PngTextData(ImageParameters.JsonKeyword, parameters.Json, "", ""));
        }
        else
        {
            var exif = new ExifProfile();
            exif.SetValue(ExifTag.UserComment, parameters.Text);
            image.Metadata.ExifProfile = exif;
            image.Metadata.XmpProfile = new XmpProfile(Xmp(parameters));
        }
        using var stream = new MemoryStream();
        image.Save(stream, EncoderFor(output));
        return stream.ToArray();
    }

    static Image Load(RawImage raw) => raw.Channels switch
    {
        1 => Image.LoadPixelData<L8>(raw.Pixels, raw.Width, raw.Height),
        3 => Image.LoadPixelData<Rgb24>(raw.Pixels, raw.Width, raw.Height),
        _ => throw new NotSupportedException($"Cannot encode a {raw.Channels}-channel image."),
    };

    static IImageEncoder EncoderFor(OutputFormat output) => output.Format switch
    {
        ImageFormat.Png => Png,
        ImageFormat.Jpeg => new JpegEncoder { Quality = output.Quality },
        ImageFormat.Webp => new WebpEncoder { FileFormat = WebpFileFormatType.Lossy, Quality = output.Quality ?? 75 },
        _ => throw new NotSupportedException(output.Name),
    };

    /// <summary>An XMP packet with <c>dit:parameters</c> (the A1111 text) and <c>dit:json</c>.</summary>
    static byte[] Xmp(ImageParameters parameters)
    {
        XNamespace x = "adobe:ns:meta/", rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
        var meta = new XElement(x + "xmpmeta", new XAttribute(XNamespace.Xmlns + "x", x),
            new XElement(rdf + "RDF", new XAttribute(XNamespace.Xmlns + "rdf", rdf),
                new XElement(rdf + "Description", new XAttribute(rdf + "about", ""), new XAttribute(XNamespace.Xmlns + "dit", XmpNamespace),
                    new XElement(XmpNamespace + "parameters", parameters.Text),
                    new XElement(XmpNamespace + "json", parameters.Json))));
        var packet = "<?xpacket begin=\"\uFEFF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>" + meta.ToString(SaveOptions.DisableFormatting) + "<?xpacket end=\"w\"?>";
        return Encoding.UTF8.GetBytes(packet);
    }
}
