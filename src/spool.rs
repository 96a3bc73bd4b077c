//! Output kept to be shown later (a session's block while others run, a failed environment's
//! log): in memory while it is small, beyond that in an unnamed temporary file, so that memory
//! never follows the size of what a command prints.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, Write};

/// Bytes kept in memory before they go to a file: many spools may wait at once (the logs of
/// sessions restored while another streams), each larger one costs an open file.
const IN_MEMORY: usize = 256 * 1024;

#[derive(Default)]
pub(crate) struct Spool {
    /// The first bytes, when they went to a file.
    file: Option<Spilled>,
    /// The bytes after the file's (all of them while they are few).
    memory: Vec<u8>,
    /// No file could be made or written (a full disk): the rest stays in memory, since
    /// showing the output matters more.
    no_file: bool,
}

/// A file holding the first `len` bytes. Unnamed (deleted as soon as made): nothing is left
/// behind, whatever ends rtask.
struct Spilled {
    file: File,
    len: u64,
}

impl Write for Spool {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.push(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Spool {
    pub(crate) fn new() -> Spool {
        Spool::default()
    }

    /// Keep `bytes`.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let (Some(spilled), false) = (&mut self.file, self.no_file) {
            if spilled.file.write_all(bytes).is_ok() {
                spilled.len += bytes.len() as u64;
                return;
            }
            // Only what was written whole is read back from the file.
            self.no_file = true;
        }
        self.memory.extend_from_slice(bytes);
        if self.file.is_none() && !self.no_file && self.memory.len() > IN_MEMORY {
            match tempfile::tempfile() {
                Ok(file) if (&file).write_all(&self.memory).is_ok() => {
                    let len = self.memory.len() as u64;
                    self.memory = Vec::new();
                    self.file = Some(Spilled { file, len });
                }
                _ => self.no_file = true,
            }
        }
    }

    /// Everything kept, from the first byte.
    pub(crate) fn reader(&mut self) -> io::Result<impl Read + '_> {
        let file: Box<dyn Read + '_> = match &mut self.file {
            Some(Spilled { file, len }) => {
                file.rewind()?;
                Box::new(file.take(*len))
            }
            None => Box::new(io::empty()),
        };
        Ok(file.chain(Cursor::new(&self.memory[..])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(spool: &mut Spool) -> Vec<u8> {
        let mut bytes = Vec::new();
        spool.reader().unwrap().read_to_end(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn small_output_is_kept_in_memory() {
        let mut spool = Spool::new();
        spool.push(b"one\n");
        spool.push(b"two");
        assert!(spool.file.is_none());
        assert_eq!(read_all(&mut spool), b"one\ntwo");
    }

    #[test]
    fn large_output_goes_to_a_file_and_comes_back_whole() {
        let mut spool = Spool::new();
        let mut expected = Vec::new();
        for index in 0..5000u32 {
            let chunk = format!("{index} {}\n", "x".repeat(500));
            spool.push(chunk.as_bytes());
            expected.extend_from_slice(chunk.as_bytes());
        }
        assert!(spool.file.is_some());
        assert!(spool.memory.is_empty());
        assert_eq!(read_all(&mut spool), expected);
        // Read again: the same.
        assert_eq!(read_all(&mut spool), expected);
    }
}
