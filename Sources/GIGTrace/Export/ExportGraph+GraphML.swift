extension ExportGraph {
    /// GraphML (XML) with node keys kind/layer/index/name/label/topClass/imagesActive/image and edge keys
    /// weight/meanAbs/ciLow/ciHigh/activeCount/significant.
    public func graphML() -> String {
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <graphml xmlns="http://graphml.graphdrawing.org/xmlns" \
            xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
            xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">

            """
        let nodeKeys = [("kind", "string"), ("layer", "int"), ("index", "int"), ("name", "string"), ("label", "string"),
                        ("topClass", "string"), ("imagesActive", "int"), ("meanCode", "double"), ("image", "string")]
        let edgeKeys = [("weight", "double"), ("meanAbs", "double"), ("ciLow", "double"), ("ciHigh", "double"),
                        ("activeCount", "int"), ("significant", "boolean")]
        for (name, type) in nodeKeys {
            out += "  <key id=\"n_\(name)\" for=\"node\" attr.name=\"\(name)\" attr.type=\"\(type)\"/>\n"
        }
        for (name, type) in edgeKeys {
            out += "  <key id=\"e_\(name)\" for=\"edge\" attr.name=\"\(name)\" attr.type=\"\(type)\"/>\n"
        }
        out += "  <graph id=\"concept_graph\" edgedefault=\"directed\">\n"
        func data(_ key: String, _ value: String) -> String {
            "      <data key=\"\(key)\">\(Self.xmlEscaped(value))</data>\n"
        }
        for n in nodes {
            out += "    <node id=\"\(Self.xmlEscaped(n.id))\">\n"
            out += data("n_kind", n.layer == nil ? "class" : "concept")
            if let layer = n.layer { out += data("n_layer", "\(layer)") }
            out += data("n_index", "\(n.index)") + data("n_name", n.name) + data("n_label", n.label)
            if let top = n.topClass { out += data("n_topClass", top) }
            out += data("n_imagesActive", "\(n.imagesActive)") + data("n_meanCode", "\(n.meanCode)")
            if let image = n.image { out += data("n_image", image) }
            out += "    </node>\n"
        }
        for e in edges {
            let s = e.statistics
            out += "    <edge source=\"\(Self.xmlEscaped(e.source))\" target=\"\(Self.xmlEscaped(e.target))\">\n"
            out += data("e_weight", "\(s.mean)") + data("e_meanAbs", "\(s.meanAbs)") + data("e_ciLow", "\(s.ciLow)")
                + data("e_ciHigh", "\(s.ciHigh)") + data("e_activeCount", "\(s.activeCount)")
                + data("e_significant", s.isSignificant ? "true" : "false")
            out += "    </edge>\n"
        }
        return out + "  </graph>\n</graphml>\n"
    }

    /// `text` as XML 1.0 character data or attribute value: markup characters as entities, tab,
    /// newline and carriage return as character references (kept in attributes), and the characters
    /// XML 1.0 cannot carry at all (other C0 controls, U+FFFE, U+FFFF) as U+FFFD.
    static func xmlEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out += "&#\(scalar.value);"
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                out.unicodeScalars.append("\u{FFFD}")
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
