import Foundation

/// The repository's root directory.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The `broker` executable the tests run as a separate process (`swift build` puts it here).
public var brokerExecutable: URL { repositoryRoot.appendingPathComponent(".build/debug/broker") }

/// `broker-dev`: the simulator, the demo, the benchmarks, and `run` with in-memory queues for
/// tests of the process that need no RabbitMQ.
public var brokerDevExecutable: URL { repositoryRoot.appendingPathComponent(".build/debug/broker-dev") }

/// A short random id for names that must not collide between tests.
public func uniqueID() -> String { String(UUID().uuidString.prefix(8)).lowercased() }

/// A free TCP port on 127.0.0.1 (bound and released; another process could take it in between,
/// which on loopback in a test run does not happen in practice).
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
            bind(fd, sockaddrPointer, length) == 0 && getsockname(fd, sockaddrPointer, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A TCP connection to 127.0.0.1:`port` (its socket, which the caller closes), or nil when it
/// cannot connect.
public func connectToLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// A temporary file path that is removed by ``removeTemporary(_:)``.
public func temporaryPath(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("broker-test-\(uniqueID())-\(name)")
}
