import ArgumentParser

/// A switch given as `on` or `off` (for options whose default may be either).
enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on, off
}
