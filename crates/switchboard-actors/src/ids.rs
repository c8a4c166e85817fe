//! Fresh SIDs: 16 random bytes behind a type prefix, as Twilio's are.

use rand::RngCore;
use switchboard_domain::{Sid, SidPrefix};

pub fn new_sid(prefix: SidPrefix) -> Sid {
    let mut id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut id);
    Sid::from_parts(prefix, id)
}
