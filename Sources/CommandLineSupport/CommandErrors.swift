import ArgumentParser
import Core
import Foundation

/// Runs a subcommand body; any error is printed as one line on stderr and the process exits 1.
public func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(commandLineMessage(error))\n".utf8))
        throw ExitCode(1)
    }
}

/// The one line the command line prints for `error`: the library's description, with the option
/// that set a bad parameter named first (`--batch-size: batch size must be positive, got 0`) and
/// `--force` named for an output that exists. Line breaks inside a message become spaces.
public func commandLineMessage(_ error: any Error) -> String {
    let text: String
    switch error {
    case InputError.invalidParameter(let parameter, let message):
        text = "\(parameter.option): \(message)"
    case InputError.outputExists(let path):
        text = "\(path) already exists (pass --force to overwrite it)"
    default:
        text = "\(error)"
    }
    return text.split(whereSeparator: \.isNewline).joined(separator: " ")
}

extension Parameter {
    /// The command-line option that sets this parameter.
    public var option: String {
        switch self {
        case .batchSize: return "--batch-size"
        case .dataFormat: return "--format"
        case .imageSize: return "--resize/--crop"
        case .resize: return "--resize"
        case .crop: return "--crop"
        case .channels: return "--channels"
        case .mean: return "--mean"
        case .std: return "--std"
        case .limit: return "--limit"
        case .classes: return "--classes"
        case .skipBad: return "--skip-bad"
        case .sigma: return "--sigma"
        case .threads: return "--threads"
        case .steps: return "--steps"
        case .shard: return "--shard"
        case .conceptImages: return "--concept-images"
        case .lambda: return "--lambda"
        case .coding: return "--coding"
        case .layers: return "--layers"
        case .conceptsPerLayer: return "--k-per-layer"
        case .conceptsPerChannel: return "--k-per-channel"
        case .conceptBanks: return "--concept-bank"
        case .images: return "--images"
        case .randomOrders: return "--random-orders"
        case .randomPathways: return "--random-pathways"
        case .model: return "--model"
        case .data: return "--data"
        case .perturbedModels: return "--perturbed-models"
        case .ascentSteps: return "--ascent-steps"
        case .ascentRate: return "--ascent-rate"
        case .maxCrossings: return "--max-crossings"
        case .patches: return "--patches"
        case .outputFolder: return "--out"
        case .force: return "--force"
        }
    }
}
