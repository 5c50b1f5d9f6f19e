//! A newc ("070701") cpio writer: what the Linux initramfs loader reads. A character device
//! (`/dev/console`) is just a header here, so no root is needed to make one.

use std::io::Write;

/// A newc ("070701") cpio writer: what the Linux initramfs loader reads.
pub(super) struct Cpio<W: Write> {
    w: W,
    off: u64,
    ino: u32,
}

impl<W: Write> Cpio<W> {
    pub(super) fn new(w: W) -> Self {
        Cpio { w, off: 0, ino: 1 }
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (4 - (self.off % 4) as usize) % 4;
        self.w.write_all(&[0u8; 3][..n])?;
        self.off += n as u64;
        Ok(())
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        data: &[u8],
        rdev: (u32, u32),
    ) -> std::io::Result<()> {
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let ino = self.ino;
        self.ino += 1;
        let hdr = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.w.write_all(hdr.as_bytes())?;
        self.w.write_all(name.as_bytes())?;
        self.w.write_all(&[0])?;
        self.off += (hdr.len() + name.len() + 1) as u64;
        self.pad()?;
        self.w.write_all(data)?;
        self.off += data.len() as u64;
        self.pad()
    }

    pub(super) fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, 0o040755, &[], (0, 0))
    }

    pub(super) fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(name, 0o100000 | perm, data, (0, 0))
    }

    pub(super) fn symlink(&mut self, name: &str, target: &str) -> std::io::Result<()> {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0))
    }

    pub(super) fn chardev(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> std::io::Result<()> {
        self.entry(name, 0o020000 | perm, &[], (major, minor))
    }

    /// The root every initramfs here starts with: the usual top-level directories (and
    /// `more_dirs`), `/dev/console` and `/dev/null`, busybox as `/bin/busybox` and `/bin/sh`.
    pub(super) fn busybox_root(
        &mut self,
        busybox: &[u8],
        more_dirs: &[&str],
    ) -> std::io::Result<()> {
        for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "lib"]
            .iter()
            .chain(more_dirs)
        {
            self.dir(d)?;
        }
        self.chardev("dev/console", 0o600, 5, 1)?;
        self.chardev("dev/null", 0o666, 1, 3)?;
        self.file("bin/busybox", 0o755, busybox)?;
        self.symlink("bin/sh", "busybox")
    }

    pub(super) fn finish(mut self) -> std::io::Result<W> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, &[], (0, 0))?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_layout() {
        let mut w = Cpio::new(Vec::new());
        w.file("init", 0o755, b"abcde").unwrap();
        let v = w.finish().unwrap();
        assert_eq!(v.len() % 4, 0);
        assert!(v.starts_with(b"070701"));
        // 110-byte header + "init\0" padded to 116, data 5 padded to 8.
        assert_eq!(&v[110..115], b"init\0");
        assert_eq!(&v[116..121], b"abcde");
        assert_eq!(&v[124..130], b"070701");
    }

    #[test]
    fn busybox_root_has_the_console_and_a_shell() {
        let mut w = Cpio::new(Vec::new());
        w.busybox_root(b"BB", &["www"]).unwrap();
        let v = w.finish().unwrap();
        let text = String::from_utf8_lossy(&v);
        for name in [
            "bin\0",
            "www\0",
            "dev/console\0",
            "bin/busybox\0",
            "bin/sh\0",
        ] {
            assert!(text.contains(name), "{name} missing");
        }
        // /dev/console: a character device (mode 020600), major 5 minor 1.
        let at = text.find("dev/console").unwrap() - 110;
        assert_eq!(&text[at + 14..at + 22], "00002180");
        assert_eq!(&text[at + 78..at + 94], "0000000500000001");
    }
}
