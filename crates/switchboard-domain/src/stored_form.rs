//! The two forms an event takes when it is stored: named (maps with field names: records of
//! version 1, snapshots, and every JSON view of an event) and positional (arrays in declaration
//! order: records of version 2).
//!
//! The named form leaves a few optional fields out when they are empty, and the JSON that replay
//! prints of old records must stay exactly as it was. The positional form cannot leave out a field
//! that has others after it: they would shift into its place. Such fields use [`is_none_unless_positional`],
//! which only lets them be left out while no positional encoding runs on this thread.

use std::cell::Cell;

thread_local! {
    static POSITIONAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `encode`, a positional encoding, with every field of the events it writes present, even
/// the ones the named form leaves out when empty.
pub fn with_every_field<R>(encode: impl FnOnce() -> R) -> R {
    /// Puts the flag back even if `encode` panics, so the thread's later encodings stay named.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            POSITIONAL.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(POSITIONAL.with(|flag| flag.replace(true)));
    encode()
}

/// `skip_serializing_if` of an optional field that is not its struct's last.
pub(crate) fn is_none_unless_positional<T>(value: &Option<T>) -> bool {
    value.is_none() && !POSITIONAL.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_only_left_out_outside_positional_encodings() {
        let none: Option<u8> = None;
        assert!(is_none_unless_positional(&none));
        assert!(!is_none_unless_positional(&Some(1)));
        assert!(!with_every_field(|| is_none_unless_positional(&none)));
        assert!(is_none_unless_positional(&none), "the flag is put back");
        let panicked = std::panic::catch_unwind(|| with_every_field(|| panic!("while encoding")));
        assert!(panicked.is_err());
        assert!(is_none_unless_positional(&none), "the flag is put back after a panic");
    }
}
