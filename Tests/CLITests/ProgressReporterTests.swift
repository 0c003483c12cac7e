import Foundation
import Testing
@testable import CommandLineSupport

@Suite struct ProgressReporterTests {
    @Test func statusLineShowsCountTotalRateAndETA() {
        var p = ProgressReporter(label: "trace", total: 1000, quiet: true)
        p.advance(by: 10)
        // 10 images in 2 s: 5 images/s, and the other 990 at that rate take 198 s.
        #expect(p.statusLine(at: p.start + 2) == "trace: 10/1000 images  5.0 images/s  ETA 3:18")
    }

    /// A reporter made at a job's first callback can see a whole batch at once: no rate until
    /// half a second has been timed (the demo printed "64/1000 images  1864135.1 images/s").
    @Test func noRateBeforeHalfASecond() {
        var p = ProgressReporter(label: "trace: sampling PFVs for concepts", total: 1000, quiet: true)
        p.advance(by: 64)
        #expect(p.statusLine(at: p.start + 0.001) == "trace: sampling PFVs for concepts: 64/1000 images")
        #expect(p.statusLine(at: p.start + 0.5) == "trace: sampling PFVs for concepts: 64/1000 images  128.0 images/s  ETA 0:07")
    }

    @Test func resumedWorkCountsButDoesNotInflateTheRate() {
        var p = ProgressReporter(label: "x", total: 10, quiet: true, alreadyDone: 8)
        #expect(p.rate == 0)
        p.advance(by: 2)
        #expect(p.done == 10)
        #expect(!p.statusLine().contains("ETA"))
    }

    @Test func clockFormats() {
        #expect(ProgressReporter.clock(5) == "0:05")
        #expect(ProgressReporter.clock(125) == "2:05")
        #expect(ProgressReporter.clock(3725) == "1:02:05")
    }
}
