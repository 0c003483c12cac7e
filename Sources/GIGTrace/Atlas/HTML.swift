import Foundation

/// Text for HTML and SVG pages: escaping of names from user files (class, layer and folder names
/// may hold `<`, `&`, quotes or newlines) and the shared page frame of the atlas.
///
///     HTML.escape("<img src=x onerror=alert(1)>")   // "&lt;img src=x onerror=alert(1)&gt;"
public enum HTML {
    /// Escapes text for element content and double- or single-quoted attribute values (HTML and
    /// SVG alike): `& < > " '` become character references, and newlines `&#10;` so an attribute
    /// keeps them as text.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// A number for pages: up to `digits` significant digits, no exponent for everyday sizes.
    public static func number(_ value: Double, digits: Int = 3) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1e-3 && magnitude < 1e6 {
            let decimals = max(0, digits - 1 - Int(floor(log10(magnitude))))
            return String(format: "%.\(decimals)f", value)
        }
        return String(format: "%.\(max(digits - 1, 0))e", value)
    }

    /// `mean ± half-width [low, high]` of a 95 % interval.
    public static func interval(_ s: EdgeStatistics) -> String {
        "\(number(s.mean)) ± \(number((s.ciHigh - s.ciLow) / 2)) [\(number(s.ciLow)), \(number(s.ciHigh))]"
    }

    /// A complete page: title, the shared stylesheet (relative), a navigation bar and the body.
    static func page(title: String, body: String, script: String? = nil) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) · GIGTrace atlas</title>
        <link rel="stylesheet" href="style.css">
        </head>
        <body>
        <nav><a href="index.html">Atlas</a> · <a href="classes-1.html">Classes</a> · <a href="graph.html">Graph</a> · <a href="images-1.html">Images</a></nav>
        <main>
        \(body)
        </main>
        \(script.map { "<script>\n\($0)\n</script>\n" } ?? "")</body>
        </html>

        """
    }

    /// Links to pages 1…count of a paginated list (`prefix-N.html`), the current one in bold.
    static func pager(prefix: String, current: Int, count: Int) -> String {
        guard count > 1 else { return "" }
        let links = (1...count).map { n in
            n == current ? "<strong>\(n)</strong>" : "<a href=\"\(prefix)-\(n).html\">\(n)</a>"
        }
        return "<p class=\"pager\">Page: " + links.joined(separator: " ") + "</p>\n"
    }

    /// The atlas stylesheet: plain CSS, system fonts only (the atlas works offline).
    static let styleSheet = """
        body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fff; }
        nav { background: #263238; padding: 0.5em 1em; }
        nav a { color: #fff; text-decoration: none; margin-right: 0.5em; }
        main { padding: 1em 1.5em; max-width: 1400px; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
        table { border-collapse: collapse; margin: 0.5em 0; }
        th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .pathway { display: flex; align-items: stretch; gap: 0.3em; margin: 0.8em 0; flex-wrap: wrap; }
        .pathway .score { width: 7em; font-weight: bold; align-self: center; }
        .card { border: 1px solid #bbb; border-radius: 6px; padding: 0.4em; background: #fafafa; min-width: 10em; }
        .card.class { background: #fde0c5; }
        .card .thumbs img, img.thumb { width: 48px; height: 48px; image-rendering: pixelated; object-fit: contain; background: #000; margin: 1px; }
        .arrow { align-self: center; font-size: 0.85em; color: #555; max-width: 11em; }
        .grid { display: flex; flex-wrap: wrap; gap: 0.8em; }
        figure.exemplar { margin: 0; border: 1px solid #ccc; padding: 0.3em; font-size: 0.8em; }
        figure.exemplar img { width: 96px; height: 96px; image-rendering: pixelated; object-fit: contain; background: #000; }
        .whole { position: relative; display: inline-block; width: 96px; height: 96px; }
        .whole img { width: 96px; height: 96px; }
        .box { position: absolute; border: 2px solid #ffeb3b; box-sizing: border-box; }
        img.big { width: 224px; height: 224px; image-rendering: pixelated; object-fit: contain; background: #000; }
        .sig { color: #1b5e20; font-weight: bold; }
        .pos { color: #2166ac; } .neg { color: #b2182b; }
        .controls { margin: 0.5em 0; }
        svg.graph a:hover rect { stroke: #000; stroke-width: 2; }
        .muted { color: #777; }
        """
}
