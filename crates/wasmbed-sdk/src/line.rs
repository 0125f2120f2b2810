//! A log line built on the stack, so apps without an allocator (and without
//! the size of `core::fmt`) can log numbers.

/// Bytes a [`Line`] holds; what does not fit is dropped.
pub const LINE_CAPACITY: usize = 128;

/// A log line under construction: text and decimal numbers appended in
/// order, truncated (at a character boundary) at [`LINE_CAPACITY`] bytes.
///
/// ```
/// use wasmbed_sdk::Line;
/// let mut line = Line::new();
/// line.push_str("hello #").push_u64(42).push_str(" ").push_i64(-7);
/// assert_eq!(line.as_str(), "hello #42 -7");
/// ```
#[derive(Clone, Debug)]
pub struct Line {
    buf: [u8; LINE_CAPACITY],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Self { buf: [0; LINE_CAPACITY], len: 0 }
    }

    /// Appends as much of `s` as fits, never splitting a character.
    pub fn push_str(&mut self, s: &str) -> &mut Self {
        let room = LINE_CAPACITY - self.len;
        let mut end = s.len().min(room);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.push_bytes(&s.as_bytes()[..end]);
        self
    }

    /// Appends `n` in decimal, or nothing if the digits do not all fit.
    pub fn push_u64(&mut self, n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if digits.len() - at <= LINE_CAPACITY - self.len {
            self.push_bytes(&digits[at..]);
        }
        self
    }

    /// Appends `n` in decimal with a leading `-` when negative, or nothing
    /// if it does not all fit.
    pub fn push_i64(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            let digits = decimal_len(n.unsigned_abs());
            if 1 + digits > LINE_CAPACITY - self.len {
                return self;
            }
            self.push_bytes(b"-");
        }
        self.push_u64(n.unsigned_abs())
    }

    /// Appends `n / 10^decimals` in decimal with exactly `decimals`
    /// digits after the point (`push_decimal(-2150, 2)` is `-21.50`), or
    /// nothing if it does not all fit. For fixed-point values (sensor
    /// readings) without `core::fmt`.
    ///
    /// ```
    /// let mut line = wasmbed_sdk::Line::new();
    /// line.push_decimal(215, 1).push_str(" ").push_decimal(-5, 2).push_str(" ").push_decimal(7, 0);
    /// assert_eq!(line.as_str(), "21.5 -0.05 7");
    /// ```
    pub fn push_decimal(&mut self, n: i64, decimals: u32) -> &mut Self {
        let Some(scale) = 10u64.checked_pow(decimals) else { return self };
        let (whole, frac) = (n.unsigned_abs() / scale, n.unsigned_abs() % scale);
        let sign = usize::from(n < 0);
        let point = if decimals > 0 { 1 + decimals as usize } else { 0 };
        if sign + decimal_len(whole) + point > LINE_CAPACITY - self.len {
            return self;
        }
        if n < 0 {
            self.push_bytes(b"-");
        }
        self.push_u64(whole);
        if decimals > 0 {
            self.push_bytes(b".");
            for place in (0..decimals).rev() {
                let digit = (frac / 10u64.pow(place) % 10) as u8;
                self.push_bytes(&[b'0' + digit]);
            }
        }
        self
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole characters and ASCII digits are ever appended.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The text so far, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Sends the line to the device log (capability `log`).
    pub fn log(&self) {
        crate::host::log(self.as_bytes());
    }

    /// Callers guarantee `bytes` fits.
    fn push_bytes(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_in_decimal() {
        let mut line = Line::new();
        line.push_u64(0).push_str(" ").push_u64(u64::MAX).push_str(" ").push_i64(i64::MIN);
        assert_eq!(line.as_str(), "0 18446744073709551615 -9223372036854775808");
    }

    #[test]
    fn overflow_truncates_at_a_character_boundary() {
        let mut line = Line::new();
        line.push_str(&"a".repeat(LINE_CAPACITY - 1)).push_str("é!");
        assert_eq!(line.as_bytes().len(), LINE_CAPACITY - 1, "the two-byte é does not fit");
        line.push_str("z");
        assert_eq!(line.as_bytes().len(), LINE_CAPACITY);
        assert!(line.as_str().ends_with('z'));
    }

    #[test]
    fn fixed_point_numbers_keep_their_places() {
        let mut line = Line::new();
        line.push_decimal(0, 2).push_str(" ").push_decimal(i64::MIN, 3).push_str(" ").push_decimal(1, 25);
        assert_eq!(line.as_str(), "0.00 -9223372036854775.808 ", "10^25 is past u64: nothing");
        let mut full = Line::new();
        full.push_str(&"a".repeat(LINE_CAPACITY - 4)).push_decimal(-215, 1);
        assert_eq!(full.as_bytes().len(), LINE_CAPACITY - 4, "-21.5 is five bytes: dropped whole");
        full.push_decimal(215, 1);
        assert!(full.as_str().ends_with("21.5"));
    }

    #[test]
    fn a_number_that_does_not_fit_is_dropped_whole() {
        let mut line = Line::new();
        line.push_str(&"a".repeat(LINE_CAPACITY - 2)).push_u64(123).push_i64(-55);
        assert_eq!(line.as_bytes().len(), LINE_CAPACITY - 2);
        line.push_i64(-1);
        assert!(line.as_str().ends_with("-1"));
    }
}
