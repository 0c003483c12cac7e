/// One image as stored or decoded, before any preprocessing: `height × width × channels` samples,
/// row-major and interleaved (HWC). `channels` is 1 (grey), 3 (RGB) or 4 (RGBA).
public struct DecodedImage: Sendable, Equatable {
    /// The samples, in the source's own type.
    public enum Pixels: Sendable, Equatable {
        /// 8-bit samples (files, IDX, CIFAR, uint8 arrays); ToTensor scales them by 1/255.
        case uint8([UInt8])
        /// Float samples (float32 arrays), taken as already scaled to [0, 1].
        case float32([Float])
    }

    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: Pixels

    /// Wraps `pixels`; the caller guarantees `height * width * channels` samples.
    public init(width: Int, height: Int, channels: Int, pixels: Pixels) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}
