import Foundation

/// What the broker reads and writes by name (rule files, the record file) must be regular
/// files: opening a FIFO blocks until a peer opens the other end, which held start-up for good
/// (signals included), and a device or socket is no rule file either.
public enum RegularFile {
    /// Why the existing `path` is not a regular file (symbolic links followed), or nil when it
    /// is one or does not exist.
    public static func problem(at path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG, S_IFDIR: return nil
        case S_IFIFO: return "is a FIFO, not a regular file (reading or writing it would block)"
        case S_IFSOCK: return "is a socket, not a regular file"
        case S_IFCHR, S_IFBLK: return "is a device, not a regular file"
        default: return "is not a regular file"
        }
    }
}
