//! Just enough DER to check a P-256 leaf against a pinned P-256 CA.
//! No allocation; every slice borrows the input.

/// Bytes that are not the DER this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerError;

/// Tag of a SEQUENCE.
pub const SEQUENCE: u8 = 0x30;
/// Tag of an OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Tag of an INTEGER.
pub const INTEGER: u8 = 0x02;
/// Tag of a BOOLEAN.
pub const BOOLEAN: u8 = 0x01;
/// Tag of a BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// Tag of an OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Tag of a UTCTime.
pub const UTC_TIME: u8 = 0x17;
/// Tag of a GeneralizedTime.
pub const GENERALIZED_TIME: u8 = 0x18;

/// One TLV: `tag`, `value` (contents), `raw` (tag+length+contents).
#[derive(Clone, Copy)]
pub struct Tlv<'a> {
    /// Its tag byte.
    pub tag: u8,
    /// Its contents.
    pub value: &'a [u8],
    /// Tag, length and contents as they stood in the input.
    pub raw: &'a [u8],
}

/// A cursor over consecutive TLVs.
#[derive(Clone, Copy)]
pub struct Reader<'a>(
    /// What is left to read.
    pub &'a [u8],
);

impl<'a> Reader<'a> {
    /// Nothing is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next TLV's tag, without reading it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// Reads the next TLV (single-byte tags, lengths up to 16 MiB).
    pub fn next_tlv(&mut self) -> Result<Tlv<'a>, DerError> {
        let d = self.0;
        let tag = *d.first().ok_or(DerError)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError); // multi-byte tags never occur in certificates
        }
        let l0 = *d.get(1).ok_or(DerError)? as usize;
        let (len, hdr): (usize, usize) = match l0 {
            0..=0x7f => (l0, 2),
            0x81 => (*d.get(2).ok_or(DerError)? as usize, 3),
            0x82 => (((*d.get(2).ok_or(DerError)? as usize) << 8) | *d.get(3).ok_or(DerError)? as usize, 4),
            0x83 => (
                ((*d.get(2).ok_or(DerError)? as usize) << 16)
                    | ((*d.get(3).ok_or(DerError)? as usize) << 8)
                    | *d.get(4).ok_or(DerError)? as usize,
                5,
            ),
            _ => return Err(DerError), // indefinite or absurd lengths
        };
        let end = hdr.checked_add(len).ok_or(DerError)?;
        if end > d.len() {
            return Err(DerError);
        }
        self.0 = &d[end..];
        Ok(Tlv { tag, value: &d[hdr..end], raw: &d[..end] })
    }

    /// Next TLV, which must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let t = self.next_tlv()?;
        if t.tag == tag { Ok(t) } else { Err(DerError) }
    }

    /// Next TLV if it carries `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) { self.next_tlv().map(Some) } else { Ok(None) }
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.0.is_empty() { Ok(()) } else { Err(DerError) }
    }
}

/// The contents of a BIT STRING with no unused bits.
pub fn bit_string<'a>(t: &Tlv<'a>) -> Result<&'a [u8], DerError> {
    match t.value.split_first() {
        Some((0, rest)) if t.tag == BIT_STRING => Ok(rest),
        _ => Err(DerError),
    }
}

/// UTCTime `YYMMDDHHMMSSZ` / GeneralizedTime `YYYYMMDDHHMMSSZ` to Unix seconds.
pub fn time(t: &Tlv<'_>) -> Result<u64, DerError> {
    let s = t.value;
    let (year, rest) = match (t.tag, s.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&s[0..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&s[0..4])?, &s[4..]),
        _ => return Err(DerError),
    };
    if rest[10] != b'Z' {
        return Err(DerError);
    }
    let (mo, d, h, mi, se) =
        (digits(&rest[0..2])?, digits(&rest[2..4])?, digits(&rest[4..6])?, digits(&rest[6..8])?, digits(&rest[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 || year < 1970 {
        return Err(DerError);
    }
    // days_from_civil (Howard Hinnant), valid for year >= 1970
    let y = if mo <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h * 3600 + mi * 60 + se)
}

fn digits(s: &[u8]) -> Result<u64, DerError> {
    s.iter().try_fold(
        0u64,
        |acc, &c| {
            if c.is_ascii_digit() { Ok(acc * 10 + u64::from(c - b'0')) } else { Err(DerError) }
        },
    )
}
