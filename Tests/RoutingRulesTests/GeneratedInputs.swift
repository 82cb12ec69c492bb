import Testing

/// The tests that each decide thousands of generated inputs (regular expressions, rule sets,
/// hash keys): one at a time, so that together they keep one core busy, not both, and the
/// tests that wait on real time beside them (daemons, sockets, child processes) keep the other.
@Suite(.serialized, .timeLimit(.minutes(10))) enum GeneratedInputs {}
