//! A TI TMP105 temperature sensor at the register level, as QEMU 10's
//! `tmp105` model behaves (hw/sensor/tmp105.c), so an app that works here
//! reads the same bytes from an emulated MPS2 board.
//!
//! The first byte of a write sets the pointer register (0 temperature,
//! 1 configuration, 2 T_low, 3 T_high); the bytes after it are written to
//! the register it points at. A read returns the pointed-at register, most
//! significant byte first, and 0xff past its two bytes. The temperature
//! register is 12 bits of two's complement, left-justified, 1/16 °C per
//! LSB, masked to the resolution the configuration's R1:R0 bits select
//! (9 bits, 0.5 °C, at power-up).

/// Register numbers, as the pointer register selects them.
const REG_TEMPERATURE: u8 = 0;
const REG_CONFIG: u8 = 1;
const REG_T_LOW: u8 = 2;

/// One TMP105.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmp105 {
    /// The physical temperature, 1/256 °C.
    temperature: i16,
    pointer: u8,
    config: u8,
    /// T_low, T_high.
    limits: [i16; 2],
    /// The bytes a transfer has moved so far (QEMU's `len`).
    len: usize,
    buf: [u8; 2],
}

impl Tmp105 {
    /// The temperatures QEMU's model accepts, °C: from the first,
    /// inclusive, to the second, exclusive.
    pub const RANGE_C: (f64, f64) = (-128.0, 128.0);

    /// A sensor at power-up, at `celsius` (clamped into [`Self::RANGE_C`]).
    pub fn new(celsius: f64) -> Self {
        let mut s = Self { temperature: 0, pointer: 0, config: 0, limits: [0; 2], len: 0, buf: [0; 2] };
        s.reset();
        s.temperature = to_register(celsius.clamp(Self::RANGE_C.0, Self::RANGE_C.1 - 0.001));
        s
    }

    /// Power-up register values; the temperature is the world's and stays.
    pub fn reset(&mut self) {
        self.pointer = 0;
        self.config = 0;
        // 75 °C and 80 °C, as the datasheet and QEMU reset them.
        self.limits = [0x4b00, 0x5000];
        self.len = 0;
        self.buf = [0; 2];
    }

    /// Sets the physical temperature; `None` outside [`Self::RANGE_C`] (QEMU
    /// refuses those too).
    pub fn set_celsius(&mut self, celsius: f64) -> Option<()> {
        if !(Self::RANGE_C.0..Self::RANGE_C.1).contains(&celsius) {
            return None;
        }
        self.temperature = to_register(celsius);
        Some(())
    }

    /// The physical temperature, as QEMU's `qom-get` reports it (to the
    /// 1/256 °C the model keeps, truncated to milli-degrees).
    pub fn celsius(&self) -> f64 {
        f64::from(i32::from(self.temperature) * 1000 / 256) / 1000.0
    }

    /// A START condition for a write (the master sends).
    pub fn start_write(&mut self) {
        self.len = 0;
    }

    /// A START condition for a read: latches the pointed-at register.
    pub fn start_read(&mut self) {
        self.buf = match self.pointer & 3 {
            REG_TEMPERATURE => {
                let [hi, lo] = self.temperature.to_be_bytes();
                // R1:R0 = 0 keeps 9 bits (0x80 of the low byte), 3 keeps 12 (0xf0).
                let mask = (0xf0u32 << ((!self.config >> 5) & 3)) as u8;
                [hi, lo & mask]
            }
            REG_CONFIG => [self.config, 0xff],
            r => self.limits[usize::from(r - REG_T_LOW)].to_be_bytes(),
        };
        self.len = 0;
    }

    /// A byte from the master.
    pub fn write_byte(&mut self, data: u8) {
        if self.len == 0 {
            self.pointer = data;
            self.len = 1;
            return;
        }
        if self.len <= 2 {
            self.buf[self.len - 1] = data;
        }
        self.len += 1;
        match self.pointer & 3 {
            REG_TEMPERATURE => {}
            REG_CONFIG => self.config = self.buf[0],
            r if self.len >= 3 => self.limits[usize::from(r - REG_T_LOW)] = i16::from_be_bytes(self.buf),
            _ => {}
        }
    }

    /// A byte to the master: the latched register, then 0xff.
    pub fn read_byte(&mut self) -> u8 {
        match self.buf.get(self.len) {
            Some(&b) => {
                self.len += 1;
                b
            }
            None => 0xff,
        }
    }
}

/// °C to the model's 1/256 °C, as QEMU computes it from milli-degrees.
fn to_register(celsius: f64) -> i16 {
    let milli = (celsius * 1000.0).round() as i64;
    (milli * 256 / 1000) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pointer write, then a two-byte read, as a driver does it.
    fn read_register(s: &mut Tmp105, reg: u8) -> [u8; 2] {
        s.start_write();
        s.write_byte(reg);
        s.start_read();
        [s.read_byte(), s.read_byte()]
    }

    #[test]
    fn power_up_resolution_is_nine_bits() {
        let mut s = Tmp105::new(21.5625);
        // 21.5625 °C = 0x1590 at 12 bits; 9 bits keep 21.5 = 0x1580.
        assert_eq!(read_register(&mut s, REG_TEMPERATURE), [0x15, 0x80]);
    }

    #[test]
    fn twelve_bit_resolution_after_the_config_write() {
        let mut s = Tmp105::new(21.5625);
        s.start_write();
        for b in [REG_CONFIG, 0x60] {
            s.write_byte(b);
        }
        assert_eq!(read_register(&mut s, REG_CONFIG)[0], 0x60);
        assert_eq!(read_register(&mut s, REG_TEMPERATURE), [0x15, 0x90]);
    }

    #[test]
    fn negative_temperatures_are_twos_complement() {
        let mut s = Tmp105::new(0.0);
        s.set_celsius(-25.0).unwrap();
        // -25 °C = 0xE700 (datasheet table 5).
        assert_eq!(read_register(&mut s, REG_TEMPERATURE), [0xe7, 0x00]);
    }

    #[test]
    fn reads_past_two_bytes_are_ff_and_the_pointer_persists() {
        let mut s = Tmp105::new(31.5);
        read_register(&mut s, REG_TEMPERATURE);
        s.start_read();
        assert_eq!([s.read_byte(), s.read_byte(), s.read_byte()], [0x1f, 0x80, 0xff]);
    }

    #[test]
    fn limits_reset_to_75_and_80_and_are_writable() {
        let mut s = Tmp105::new(0.0);
        assert_eq!(read_register(&mut s, 2), [0x4b, 0x00]);
        assert_eq!(read_register(&mut s, 3), [0x50, 0x00]);
        s.start_write();
        for b in [3, 0x46, 0x00] {
            s.write_byte(b);
        }
        assert_eq!(read_register(&mut s, 3), [0x46, 0x00]);
        s.reset();
        assert_eq!(read_register(&mut s, 3), [0x50, 0x00]);
    }

    #[test]
    fn out_of_range_values_are_refused_and_set_values_read_back() {
        let mut s = Tmp105::new(0.0);
        assert!(s.set_celsius(128.0).is_none());
        assert!(s.set_celsius(-128.5).is_none());
        assert!(s.set_celsius(f64::NAN).is_none());
        s.set_celsius(31.5).unwrap();
        assert_eq!(s.celsius(), 31.5);
        s.set_celsius(-0.1).unwrap();
        assert_eq!(s.celsius(), -0.097, "1/256 °C steps, as QEMU keeps it");
    }
}
