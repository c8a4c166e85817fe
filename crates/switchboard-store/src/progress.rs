//! How far a long walk over the folder got (verify, reindex, key rotation), told to the caller
//! as it goes so a terminal can draw a bar to a known end.

/// `done` of `of` things walked (records, streams or keys, as the walk says). `of` is known
/// before the walk starts; `done` may pass it when the folder holds more than its heads count
/// (records past a head are damage a verify reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    pub done: u64,
    pub of: u64,
}
