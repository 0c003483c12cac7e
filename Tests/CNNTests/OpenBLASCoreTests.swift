import Core
import Testing

/// The OpenBLAS core choice: `/proc/cpuinfo` flags → recommended core, and the re-execution
/// decision for every combination of running core, user setting and marker. Expected values are
/// OpenBLAS's kernel requirements (its `driver/others/dynamic.c`: SkylakeX needs AVX-512
/// F/BW/DQ/VL, Cooperlake adds AVX512-BF16, Haswell/Zen need AVX2 + FMA), written by hand.
struct OpenBLASCoreTests {
    /// This machine (AMD EPYC, Zen 5, family 26, a VM), trimmed to the x86 feature part.
    static let epycZen5 = """
        processor\t: 0
        vendor_id\t: AuthenticAMD
        cpu family\t: 26
        model\t\t: 2
        model name\t: AMD EPYC
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 clzero xsaveerptr arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm avx512_vp2intersect

        processor\t: 1
        vendor_id\t: AuthenticAMD
        flags\t\t: fpu sse sse2
        """
    /// An Intel Xeon VM with AVX-512 (Cascade Lake, generic model name), the CPU of issue 13.
    static let xeonAVX512 = """
        vendor_id\t: GenuineIntel
        cpu family\t: 6
        model name\t: Intel(R) Xeon(R) Processor
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves arat umip pku ospke avx512_vnni md_clear arch_capabilities
        """
    /// An AMD EPYC 7763 (Zen 3, family 25): AVX2 + FMA, no AVX-512.
    static let epycZen3 = """
        vendor_id\t: AuthenticAMD
        cpu family\t: 25
        model name\t: AMD EPYC 7763 64-Core Processor
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf pni pclmulqdq monitor ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb cat_l3 cdp_l3 invpcid_single hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf xsaveerptr rdpru wbnoinvd arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists pausefilter pfthreshold v_vmsave_vmload vgif v_spec_ctrl umip pku ospke vaes vpclmulqdq rdpid overflow_recov succor smca fsrm
        """
    /// An Intel Haswell desktop (AVX2 + FMA).
    static let haswell = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 pni ssse3 fma sse4_1 sse4_2 avx avx2 bmi1 bmi2\n"
    /// A Sandy Bridge (AVX only) and a Core 2 (SSE only).
    static let sandyBridge = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 pni ssse3 sse4_1 sse4_2 avx\n"
    static let core2 = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 pni ssse3\n"
    /// An Intel with AVX-512 F and CD only (Knights Landing): not enough for SkylakeX kernels.
    static let knightsLanding = "vendor_id\t: GenuineIntel\nflags\t\t: sse sse2 pni fma avx avx2 avx512f avx512cd avx512pf avx512er\n"

    @Test(arguments: [
        (epycZen5, "Cooperlake"), (xeonAVX512, "SkylakeX"), (epycZen3, "Zen"), (haswell, "Haswell"),
        (sandyBridge, "Sandybridge"), (core2, nil), (knightsLanding, "Haswell"),
    ] as [(String, String?)])
    func recommendsTheWidestCoreTheFlagsAllow(cpuinfo: String, core: String?) throws {
        let cpu = try #require(CPUFeatures.parse(cpuinfo: cpuinfo))
        #expect(OpenBLASCore.recommended(for: cpu)?.core == core)
    }

    @Test func parsesTheFirstProcessorOfProcCpuinfo() throws {
        let cpu = try #require(CPUFeatures.parse(cpuinfo: Self.epycZen5))
        #expect(cpu.vendor == "AuthenticAMD" && cpu.modelName == "AMD EPYC" && cpu.family == 26)
        #expect(cpu.has("avx512_bf16") && cpu.has("pni") && !cpu.has("flags"))
        #expect(CPUFeatures.parse(cpuinfo: "processor\t: 0\nBogoMIPS\t: 50.00\n") == nil)  // no flags line (e.g. ARM)
    }

    @Test func ranksCoresByTheirWidestVectors() {
        #expect(OpenBLASCore.tier("Prescott") == 0 && OpenBLASCore.tier("Nehalem") == 0 && OpenBLASCore.tier("unknown") == 0)
        #expect(OpenBLASCore.tier("Sandybridge") == 1 && OpenBLASCore.tier("Haswell") == 2 && OpenBLASCore.tier("ZEN") == 2)
        #expect(OpenBLASCore.tier("skylakex") == 3 && OpenBLASCore.tier("Cooperlake") == 3)
    }

    typealias Case = (running: String, cpuinfo: String?, dynamicArch: Bool, environment: [String: String], expected: OpenBLASCore.Decision)
    static let marker = OpenBLASCore.reexecMarkerVariable
    static let coreType = OpenBLASCore.coreTypeVariable

    @Test(arguments: [
        // The Xeon: OpenBLAS 0.3.21 falls back to Prescott; nobody set anything → re-execute.
        ("Prescott", xeonAVX512, true, [:], .reexecute(coreType: "SkylakeX")),
        ("Prescott", xeonAVX512, true, [coreType: ""], .reexecute(coreType: "SkylakeX")),  // empty = unset, as in OpenBLAS
        // The user's value is never overridden; the better core is named.
        ("Haswell", xeonAVX512, true, [coreType: "Haswell"], .userChoice(value: "Haswell", better: "SkylakeX")),
        ("SkylakeX", xeonAVX512, true, [coreType: "SkylakeX"], .userChoice(value: "SkylakeX", better: nil)),
        // After one re-execution: never again, even if this OpenBLAS did not know the requested core.
        ("SkylakeX", xeonAVX512, true, [coreType: "SkylakeX", marker: "Prescott"], .corrected(originalCore: "Prescott", coreType: "SkylakeX")),
        ("Prescott", xeonAVX512, true, [coreType: "SkylakeX", marker: "Prescott"], .corrected(originalCore: "Prescott", coreType: "SkylakeX")),
        ("Prescott", xeonAVX512, true, [marker: "Prescott"], .corrected(originalCore: "Prescott", coreType: nil)),
        // This machine: OpenBLAS picks Cooperlake itself; the environment's Haswell is the user's choice.
        ("Cooperlake", epycZen5, true, [:], .keep),
        ("Haswell", epycZen5, true, [coreType: "Haswell"], .userChoice(value: "Haswell", better: "Cooperlake")),
        ("SkylakeX", epycZen5, true, [:], .keep),  // same AVX-512 kernels: no re-execution for BF16 alone
        // Zen 3: Zen and Haswell are the same tier; only an SSE fallback is corrected.
        ("Zen", epycZen3, true, [:], .keep),
        ("Haswell", epycZen3, true, [:], .keep),
        ("Prescott", epycZen3, true, [:], .reexecute(coreType: "Zen")),
        ("Sandybridge", haswell, true, [:], .reexecute(coreType: "Haswell")),
        ("Core2", core2, true, [:], .keep),
        ("Prescott", nil, true, [:], .keep),  // CPU unknown
        // A build with fixed kernels ignores OPENBLAS_CORETYPE: nothing to re-execute for.
        ("Haswell", xeonAVX512, false, [:], .fixedBuild(better: "SkylakeX")),
    ] as [Case])
    func decidesWhetherToReexecute(_ c: Case) {
        let cpu = c.cpuinfo.flatMap { CPUFeatures.parse(cpuinfo: $0) }
        #expect(OpenBLASCore.decide(running: c.running, cpu: cpu, dynamicArch: c.dynamicArch, environment: c.environment) == c.expected)
    }
}
