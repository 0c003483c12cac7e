import Testing
@testable import CNN
@testable import Core

@Suite struct ProgressReporterTests {
    @Test func statusLineShowsCountTotalRateAndETA() {
        var p = ProgressReporter(label: "trace", total: 1000, quiet: true)
        p.advance(by: 10)
        let line = p.statusLine()
        #expect(line.hasPrefix("trace: 10/1000 images  "))
        #expect(line.contains("images/s"))
        #expect(line.contains("ETA "))
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
