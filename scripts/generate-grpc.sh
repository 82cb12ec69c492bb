#!/usr/bin/env bash
# Regenerates Sources/AgentStatusGRPC/Generated from schemas/agent_status_service.proto.
# The output is committed; CI never runs this. It builds the two protoc plugins from the same
# package versions Package.swift pins (in a scratch directory) and runs Debian's protoc.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${GRPC_PLUGIN_WORK:-/tmp/broker-grpc-plugins}
OUT=Sources/AgentStatusGRPC/Generated

command -v protoc >/dev/null || { echo "installing protobuf-compiler" >&2; apt-get install -y -qq protobuf-compiler >/dev/null; }

mkdir -p "$WORK"
cat > "$WORK/Package.swift" <<'SWIFT'
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "plugins",
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
    ],
    targets: [.target(name: "Empty", path: "Empty")]
)
SWIFT
mkdir -p "$WORK/Empty" && echo "" > "$WORK/Empty/Empty.swift"
(cd "$WORK" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
BIN=$(cd "$WORK" && swift build -c release --show-bin-path)

mkdir -p "$OUT"
protoc --proto_path=schemas \
  --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
  --swift_out="$OUT" --swift_opt=Visibility=Public \
  --grpc-swift-2_out="$OUT" --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true \
  schemas/agent_status_service.proto
echo "generated:" && ls -1 "$OUT"
