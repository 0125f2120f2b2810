//! Memory that survives a warm reset: a block the firmware keeps in RAM the
//! startup code does not zero (cortex-m-rt's `.uninit`), with a magic and a
//! checksum so a cold boot's random RAM is never taken for a record.
//!
//! It carries, from one boot to the next:
//! - the device agent's crash journal (`wasmbed_agent::Journal`), so an app
//!   that reset the board is not run again;
//! - why the board reset, when the firmware saw it coming (a watchdog
//!   warning, a panic, a fault);
//! - how many warm resets there were since power-on: after an in-place
//!   reset the host's boot seed is the same as before, so the CSPRNG mixes
//!   this count in ([`crate::provision::provision`]) and never repeats a
//!   stream;
//! - the uptime of the boots before, so the host's launch time plus it
//!   still tells the real time.
//!
//! Pure logic over plain integers and bytes (every bit pattern is a valid
//! [`Block`]), tested on the host; the firmware owns the static.

/// Marks a block written by this firmware.
pub const MAGIC: u32 = u32::from_le_bytes(*b"WBPS");
/// Room for the agent's journal (`wasmbed_agent::JOURNAL_LEN`, checked by
/// the firmware at build time).
pub const JOURNAL_CAP: usize = 768;

/// Why the board reset, as the firmware saw it coming. The firmware keeps
/// it as a word of its own beside the block ([`Cause::word`]): handlers set
/// it while the main code may be in the middle of updating the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Nothing was seen (power-on, an external reset, a terminal reboot).
    Unknown,
    /// The watchdog's first timeout passed unfed: its reset followed.
    Watchdog,
    /// A panic.
    Panic,
    /// A hard fault.
    Fault,
}

impl Cause {
    const WORDS: [(Cause, u32); 3] =
        [(Cause::Watchdog, 0x5744_4f47), (Cause::Panic, 0x5041_4e43), (Cause::Fault, 0x4641_4c54)];

    /// As stored: a word that random RAM is unlikely to hold.
    pub fn word(self) -> u32 {
        Self::WORDS.iter().find(|(c, _)| *c == self).map_or(0, |(_, w)| *w)
    }

    /// From a stored word (anything unknown is [`Cause::Unknown`]).
    pub fn from_word(w: u32) -> Self {
        Self::WORDS.iter().find(|(_, x)| *x == w).map_or(Cause::Unknown, |(c, _)| *c)
    }
}

/// The block, as it lies in RAM.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Block {
    magic: u32,
    /// Warm resets since power-on.
    resets: u32,
    /// Uptime of the boots before this one, ms.
    carried_ms: u64,
    /// Uptime of this boot at the last [`Block::set_uptime`], ms.
    uptime_ms: u64,
    /// Boots in a row that panicked or faulted before serving.
    early_crashes: u32,
    journal_len: u32,
    journal: [u8; JOURNAL_CAP],
    checksum: u32,
}

/// What a boot found in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boot {
    /// Warm resets since power-on (0: a cold boot, or a block that did not
    /// survive intact).
    pub resets: u32,
    /// Why the last boot ended, if it was a warm reset the firmware saw.
    pub cause: Cause,
    /// Uptime of the boots since power-on, to add to the host's launch time.
    pub carried_ms: u64,
    /// Boots in a row, this one's predecessors, that panicked or faulted
    /// before they served (see [`Block::mark_serving`]): a firmware that
    /// cannot start, not an app, which no crash journal can stop.
    pub early_crashes: u32,
}

impl Block {
    /// An empty block (a cold boot's).
    pub const EMPTY: Block = Block {
        magic: 0,
        resets: 0,
        carried_ms: 0,
        uptime_ms: 0,
        early_crashes: 0,
        journal_len: 0,
        journal: [0; JOURNAL_CAP],
        checksum: 0,
    };

    /// Call once per boot, first: takes what the last boot left, or starts
    /// over when there is nothing intact, and counts this boot. `cause` is
    /// the word the last boot left beside the block.
    pub fn boot(&mut self, cause: u32) -> Boot {
        let intact = self.magic == MAGIC && self.checksum == self.sum() && self.journal_len as usize <= JOURNAL_CAP;
        let found = if intact {
            let cause = Cause::from_word(cause);
            let early_crashes = match cause {
                Cause::Panic | Cause::Fault => self.early_crashes.saturating_add(1),
                Cause::Unknown | Cause::Watchdog => 0,
            };
            Boot {
                resets: self.resets.saturating_add(1),
                cause,
                carried_ms: self.carried_ms.saturating_add(self.uptime_ms),
                early_crashes,
            }
        } else {
            *self = Self::EMPTY;
            Boot { resets: 0, cause: Cause::Unknown, carried_ms: 0, early_crashes: 0 }
        };
        self.magic = MAGIC;
        self.resets = found.resets;
        self.carried_ms = found.carried_ms;
        self.early_crashes = found.early_crashes;
        self.uptime_ms = 0;
        self.seal();
        found
    }

    /// The journal bytes saved last (empty when none).
    pub fn journal(&self) -> &[u8] {
        self.journal.get(..self.journal_len as usize).unwrap_or(&[])
    }

    /// Replaces the journal; bytes past [`JOURNAL_CAP`] are refused whole
    /// (false): a cut journal would decode to nothing anyway.
    pub fn set_journal(&mut self, bytes: &[u8]) -> bool {
        let Some(room) = self.journal.get_mut(..bytes.len()) else { return false };
        room.copy_from_slice(bytes);
        self.journal_len = bytes.len() as u32;
        self.seal();
        true
    }

    /// This boot got as far as serving: a crash from here on is not an
    /// early one (the agent's crash journal deals with those).
    pub fn mark_serving(&mut self) {
        self.early_crashes = 0;
        self.seal();
    }

    /// Records this boot's uptime (the next boot adds it to the time).
    pub fn set_uptime(&mut self, ms: u64) {
        self.uptime_ms = ms;
        self.seal();
    }

    /// FNV-1a over everything before the checksum.
    fn sum(&self) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
            }
        };
        eat(&self.magic.to_le_bytes());
        eat(&self.resets.to_le_bytes());
        eat(&self.carried_ms.to_le_bytes());
        eat(&self.uptime_ms.to_le_bytes());
        eat(&self.early_crashes.to_le_bytes());
        eat(&self.journal_len.to_le_bytes());
        eat(&self.journal);
        h
    }

    fn seal(&mut self) {
        self.checksum = self.sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cold_boot_starts_empty_and_warm_resets_count_and_keep_the_journal() {
        let mut b = Block::EMPTY;
        b.magic = 0xdead_beef; // whatever RAM held at power-on
        let wd = Cause::Watchdog.word();
        assert_eq!(
            b.boot(wd),
            Boot { resets: 0, cause: Cause::Unknown, carried_ms: 0, early_crashes: 0 },
            "no cause on a cold boot"
        );
        assert!(b.journal().is_empty());
        assert!(b.set_journal(b"record"));
        b.set_uptime(1_500);
        assert_eq!(b.boot(wd), Boot { resets: 1, cause: Cause::Watchdog, carried_ms: 1_500, early_crashes: 0 });
        assert_eq!(b.journal(), b"record");
        b.set_uptime(500);
        assert_eq!(b.boot(0), Boot { resets: 2, cause: Cause::Unknown, carried_ms: 2_000, early_crashes: 0 });
    }

    #[test]
    fn crashes_before_serving_are_counted_in_a_row_and_serving_clears_them() {
        let mut b = Block::EMPTY;
        b.boot(0);
        let (panic, fault) = (Cause::Panic.word(), Cause::Fault.word());
        assert_eq!(b.boot(panic).early_crashes, 1);
        assert_eq!(b.boot(fault).early_crashes, 2);
        assert_eq!(b.boot(panic).early_crashes, 3);
        // A reset for another reason (a terminal reboot) starts the count over.
        assert_eq!(b.boot(0).early_crashes, 0);
        assert_eq!(b.boot(panic).early_crashes, 1);
        // A boot that served and then crashed is the journal's business.
        b.mark_serving();
        assert_eq!(b.boot(panic).early_crashes, 1);
        b.mark_serving();
        assert_eq!(b.boot(Cause::Watchdog.word()).early_crashes, 0);
    }

    #[test]
    fn a_changed_byte_makes_it_a_cold_boot() {
        let mut b = Block::EMPTY;
        b.boot(0);
        b.set_journal(b"record");
        b.journal[2] ^= 1;
        assert_eq!(b.boot(0).resets, 0);
        assert!(b.journal().is_empty());
        let mut b = Block::EMPTY;
        b.boot(0);
        b.journal_len = JOURNAL_CAP as u32 + 1;
        b.seal();
        assert_eq!(b.boot(0).resets, 0, "a length past the room is not believed");
    }

    #[test]
    fn a_journal_too_long_is_refused_whole_and_the_old_one_kept() {
        let mut b = Block::EMPTY;
        b.boot(0);
        assert!(b.set_journal(&[1; JOURNAL_CAP]));
        assert!(!b.set_journal(&[2; JOURNAL_CAP + 1]));
        assert_eq!(b.journal(), &[1; JOURNAL_CAP][..]);
    }

    #[test]
    fn an_unknown_cause_word_is_unknown() {
        for c in [Cause::Unknown, Cause::Watchdog, Cause::Panic, Cause::Fault] {
            assert_eq!(Cause::from_word(c.word()), c);
        }
        assert_eq!(Cause::from_word(7), Cause::Unknown);
    }
}
