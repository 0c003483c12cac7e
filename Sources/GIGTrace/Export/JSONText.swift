import Core
import Foundation

/// JSON text for `--json` outputs: pretty-printed with sorted keys, one trailing newline.
public enum JSONText {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
        } catch {
            throw TraceError.invalidSettings("cannot encode the result as JSON: \(error)")
        }
    }
}
