import BrokerCore
import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// A status list as the broker took it: the update, and what it left out.
public struct DecodedStatusList: Sendable {
    /// The agents kept, and whether the list is full.
    public var update: AgentStatusUpdate
    /// Records that could not be read (invalid UTF-8, malformed protobuf) or had no agent id.
    public var unreadable = 0
    /// Records beyond the most agents a list may bring (``GRPCStatusFeed/Configuration/maximumAgents``).
    public var overLimit = 0

    /// Reads an `AgentStatusResponse` record by record from its protobuf encoding: a record that
    /// cannot be read is skipped and counted instead of failing the whole list, and no more than
    /// `maximumAgents` records are decoded (the rest are only counted), so a hostile list can
    /// neither keep the registry from syncing nor fill the memory.
    ///
    /// - Throws: when the list itself (not one of its records) is malformed.
    public init(protobuf bytes: UnsafeRawBufferPointer, maximumAgents: Int) throws(StatusListError) {
        var reader = WireReader(bytes: bytes)
        var records: [AgentStatusRecord] = []
        var isFullUpdate = false
        while !reader.atEnd {
            let key = try reader.varint()
            switch (key >> 3, key & 7) {
            case (1, 2):
                let record = try reader.lengthDelimited()
                guard records.count < maximumAgents else {
                    overLimit += 1
                    continue
                }
                guard let info = try? AgentStatus_AgentInfo(serializedBytes: Array(record)), !info.agentID.isEmpty
                else {
                    unreadable += 1
                    continue
                }
                records.append(info.record)
            case (2, 0):
                isFullUpdate = try reader.varint() != 0
            case (_, let wireType):
                try reader.skip(wireType: wireType)
            }
        }
        update = AgentStatusUpdate(agents: records, isFullUpdate: isFullUpdate)
    }
}

extension AgentStatus_AgentInfo {
    /// The record as the registry keeps it.
    var record: AgentStatusRecord {
        AgentStatusRecord(
            agentID: agentID, agentName: agentName, isOnline: isOnline, lastSeen: lastSeen, metrics: metrics)
    }
}

/// Why a status list could not be read at all.
public struct StatusListError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The `AgentStatusResponse` deserializer of the status stream and `GetAgentStatus`.
struct StatusListDeserializer: MessageDeserializer {
    let maximumAgents: Int

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> DecodedStatusList {
        let maximumAgents = self.maximumAgents
        return try serializedMessageBytes.withUnsafeBytes { bytes in
            do {
                return try DecodedStatusList(protobuf: bytes, maximumAgents: maximumAgents)
            } catch {
                throw RPCError(code: .invalidArgument, message: "unreadable agent status list: \(error)")
            }
        }
    }
}

/// Reads protobuf's wire format: varints, length-delimited fields, and skips the rest.
private struct WireReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    var atEnd: Bool { position >= bytes.count }

    mutating func varint() throws(StatusListError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count, shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw StatusListError(description: "a truncated or overlong varint at byte \(position)")
    }

    mutating func lengthDelimited() throws(StatusListError) -> UnsafeRawBufferPointer.SubSequence {
        let length = try varint()
        guard length <= UInt64(bytes.count - position) else {
            throw StatusListError(description: "a field of \(length) bytes runs past the end at byte \(position)")
        }
        defer { position += Int(length) }
        return bytes[position..<position + Int(length)]
    }

    mutating func skip(wireType: UInt64) throws(StatusListError) {
        switch wireType {
        case 0: _ = try varint()
        case 1: try advance(8)
        case 2: _ = try lengthDelimited()
        case 5: try advance(4)
        default: throw StatusListError(description: "unknown wire type \(wireType) at byte \(position)")
        }
    }

    mutating func advance(_ count: Int) throws(StatusListError) {
        guard count <= bytes.count - position else {
            throw StatusListError(description: "a field runs past the end at byte \(position)")
        }
        position += count
    }
}
