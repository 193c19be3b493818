// swift-tools-version:5.9
//
// The Swift package of hypar. HyparFFI.xcframework (the Rust static library
// for iOS, the iOS simulator and macOS, with the C header of the FFI) is not
// checked in: build it on macOS with ./build-xcframework.sh first.
//
// Not built on the machine it was written on (no Swift toolchain there).

import PackageDescription

let package = Package(
    name: "Hypar",
    platforms: [
        .iOS(.v13),
        .macOS(.v10_15),
    ],
    products: [
        .library(name: "Hypar", targets: ["Hypar"]),
    ],
    targets: [
        // Exposes the C module `hyparFFI` that Sources/Hypar/hypar.swift imports.
        .binaryTarget(name: "HyparFFI", path: "HyparFFI.xcframework"),
        .target(
            name: "Hypar",
            dependencies: ["HyparFFI"],
            path: "Sources/Hypar",
            linkerSettings: [
                // The static library does not carry its system dependencies:
                // libp2p's interface watcher (if-watch) uses these on Apple
                // platforms. build-xcframework.sh prints rustc's full list
                // (--print native-static-libs) to check against.
                .linkedFramework("SystemConfiguration"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
    ]
)
