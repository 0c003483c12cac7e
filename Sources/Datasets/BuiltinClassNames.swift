import Core
import Foundation

/// Class names of the well-known IDX and CIFAR datasets, in label order (as torchvision lists them).
public enum BuiltinClassNames {
    public static let mnist = (0...9).map { "\($0)" }
    public static let fashionMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    public static let kmnist = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    public static let cifar10 = ["airplane", "automobile", "bird", "cat", "deer",
                                 "dog", "frog", "horse", "ship", "truck"]
    public static let cifar100Coarse = [
        "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
        "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
        "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
        "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
        "vehicles_1", "vehicles_2",
    ]
    public static let cifar100Fine = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]

    /// Names for an IDX file, guessed from its path: Fashion-MNIST if it mentions "fashion",
    /// KMNIST if "kmnist", else the MNIST digits.
    static func forIdx(path: String) -> [String] {
        let lower = path.lowercased()
        if lower.contains("fashion") { return fashionMNIST }
        if lower.contains("kmnist") { return kmnist }
        return mnist
    }

    /// Reads one class name per line from `path` (blank lines at the end ignored). Lines end at
    /// "\n" only (a "\r" before it is trimmed): other characters Unicode counts as line breaks —
    /// vertical tab, form feed, U+2028 — stay inside the name, trimmed at its ends.
    public static func read(path: String) throws -> [String] {
        let data = try AtomicFile.read(path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError.corruptFile(path: path, reason: "class-names file is not UTF-8 text")
        }
        var names = text.components(separatedBy: "\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        while names.last?.isEmpty == true { names.removeLast() }
        guard !names.isEmpty else { throw DatasetError.invalidDataset("\(path): class-names file is empty") }
        return names
    }
}
