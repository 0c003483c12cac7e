import Testing
@testable import PFV
