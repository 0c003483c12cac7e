import Core
import ImageIO

/// A random-access collection of labelled images, listed but not loaded: opening a dataset reads
/// its index (headers, file names, labels), `image(at:)` decodes one image on demand.
///
/// Implementations are immutable values, safe to read from several threads at once.
public protocol ImageDataset: Sendable {
    /// What was opened (file or folder), for messages.
    var path: String { get }
    /// Format name as `--format` spells it.
    var formatName: String { get }
    /// Number of images.
    var count: Int { get }
    /// Class label of each image (index into `classNames`), -1 when the dataset has no labels.
    var labels: [Int] { get }
    /// Class names, indexed by label (may be empty when unknown).
    var classNames: [String] { get }
    /// (channels, height, width) shared by every image when known without decoding, else nil.
    var imageShape: [Int]? { get }
    /// Decodes image `index` (0 ..< count); throws an `InputError` naming the file on bad data.
    func image(at index: Int) throws -> DecodedImage
    /// How to find image `index` again: its file path, or `file#index` for array formats.
    func identifier(at index: Int) -> String
}
