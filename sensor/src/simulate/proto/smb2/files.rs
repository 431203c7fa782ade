//! The file and pipe operations of [`Smb2Client`]: CREATE (with Windows' create contexts), CLOSE,
//! WRITE, READ, FSCTL_PIPE_TRANSCEIVE, QUERY_INFO and QUERY_DIRECTORY.

use super::{
    CLOSE, CREATE, CREDIT_UNIT, DirEntry, FSCTL_PIPE_TRANSCEIVE, FileId, HEADER_LEN, IOCTL, InfoClass, Open,
    PRIORITY_3, Payload, QUERY_DIRECTORY, QUERY_INFO, READ, STATUS_BUFFER_OVERFLOW, STATUS_NO_MORE_FILES,
    STATUS_SUCCESS, ShareType, Smb2Client, Tree, WRITE, credit_charge, error_body, ioctl_request_body,
    ioctl_response_body, pad8, patch_u32, push_utf16, u16le, u32le, u64le, utf16_len,
};
use crate::simulate::proto::ntlmssp::filetime;
use crate::simulate::proto::opaque;
use crate::simulate::rng::Rng;

fn round_alloc(size: u64) -> u64 {
    size.div_ceil(4096) * 4096
}

/// Appends one create context (MS-SMB2 §2.2.13.2): name at 16, data at 24.
fn create_context(out: &mut Vec<u8>, name: &[u8; 4], data: impl FnOnce(&mut Vec<u8>), last: bool) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    u16le(out, 16);
    u16le(out, 4);
    u16le(out, 0);
    u16le(out, 24);
    let len_at = out.len();
    u32le(out, 0);
    out.extend_from_slice(name);
    out.extend_from_slice(&[0; 4]);
    data(out);
    let data_len = (out.len() - at - 24) as u32;
    out[len_at..len_at + 4].copy_from_slice(&data_len.to_le_bytes());
    if !last {
        while !(out.len() - at).is_multiple_of(8) {
            out.push(0);
        }
        let next = (out.len() - at) as u32;
        out[at..at + 4].copy_from_slice(&next.to_le_bytes());
    }
}

/// SMB2_CREATE_REQUEST_LEASE_V2 (52 bytes): read/handle/write caching, parent key set.
fn lease_v2(out: &mut Vec<u8>, key: &[u8; 16], parent: &[u8; 16], epoch: u16) {
    out.extend_from_slice(key);
    u32le(out, 7);
    u32le(out, 4);
    u64le(out, 0);
    out.extend_from_slice(parent);
    u16le(out, epoch);
    u16le(out, 0);
}

/// Times of an existing file: created up to a year ago, last written since, read now.
fn past_times(rng: &mut Rng, now_ns: u64) -> [u64; 4] {
    let now = filetime(now_ns);
    let created = now.saturating_sub(rng.range(1, 365 * 86_400) * 10_000_000);
    let written = created + (now - created) / 2;
    [created, now, written, written]
}

impl Smb2Client {
    /// CREATE of `name` (UTF-16LE, relative to the share: `svcctl`, `Windows\Temp\x.exe`).
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        rng: &mut Rng,
        now_ns: u64,
        tree: Tree,
        name: &str,
        open: Open,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) -> FileId {
        let file = FileId {
            persistent: (self.file_epoch << 32) | self.next_file,
            volatile: (self.file_epoch << 32) | rng.range(1, 0x1_0000),
        };
        self.next_file += 1;
        // (oplock, access, attributes, share access, disposition, options)
        let (oplock, access, attributes, share_access, disposition, options) = match open {
            Open::Pipe => (0u8, 0x0012_019f, 0, 7, 1, 0),
            Open::Directory => (0, 0x0010_0081, 0, 7, 1, 0x21),
            Open::ReadFile { .. } => (0, 0x0012_0089, 0, 7, 1, 0x60),
            Open::CreateFile { .. } => (0xff, 0x0017_019f, 0x80, 0, 2, 0x44),
        };
        let lease_key: [u8; 16] = opaque::slice(rng, 16).try_into().unwrap_or([0; 16]);
        let parent_key: [u8; 16] = opaque::slice(rng, 16).try_into().unwrap_or([0; 16]);
        let p = self.request(req, rng, CREATE, 1, 1, PRIORITY_3, tree.id, |out, hdr_at, rng| {
            u16le(out, 57);
            out.push(0);
            out.push(oplock);
            u32le(out, 2);
            u64le(out, 0);
            u64le(out, 0);
            for v in [access, attributes, share_access, disposition, options] {
                u32le(out, v);
            }
            u16le(out, (HEADER_LEN + 56) as u16);
            u16le(out, utf16_len(name) as u16);
            let ctx_at = out.len();
            u64le(out, 0);
            push_utf16(out, name);
            if open == Open::Pipe {
                if name.is_empty() {
                    out.push(0);
                }
                return;
            }
            pad8(out, hdr_at);
            let start = out.len();
            match open {
                Open::CreateFile { alloc_size } => {
                    create_context(
                        out,
                        b"DH2Q",
                        |out| {
                            out.extend_from_slice(&[0; 16]);
                            out.extend_from_slice(opaque::slice(rng, 16));
                        },
                        false,
                    );
                    create_context(out, b"AlSi", |out| u64le(out, alloc_size), false);
                    create_context(out, b"MxAc", |_| {}, false);
                    create_context(out, b"QFid", |_| {}, false);
                    create_context(out, b"RqLs", |out| lease_v2(out, &lease_key, &parent_key, 0), true);
                }
                _ => {
                    create_context(out, b"MxAc", |_| {}, false);
                    create_context(out, b"QFid", |_| {}, true);
                }
            }
            patch_u32(out, ctx_at, (start - hdr_at) as u32);
            let ctx_len = (out.len() - start) as u32;
            patch_u32(out, ctx_at + 4, ctx_len);
        });
        let times = match open {
            Open::Pipe => [0; 4],
            Open::CreateFile { .. } => [filetime(now_ns); 4],
            Open::Directory | Open::ReadFile { .. } => past_times(rng, now_ns),
        };
        // (action, allocation, end of file, attributes)
        let (action, allocation, eof, file_attributes) = match open {
            Open::Pipe => (1u32, 4096, 0, 0x80),
            Open::Directory => (1, 0, 0, 0x10),
            Open::ReadFile { size } => (1, round_alloc(size), size, 0x20),
            Open::CreateFile { alloc_size } => (2, round_alloc(alloc_size), 0, 0x20),
        };
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_3, |out, hdr_at, rng| {
            u16le(out, 89);
            out.push(oplock);
            out.push(0);
            u32le(out, action);
            for t in times {
                u64le(out, t);
            }
            u64le(out, allocation);
            u64le(out, eof);
            u32le(out, file_attributes);
            u32le(out, 0);
            file.write(out);
            let ctx_at = out.len();
            u64le(out, 0);
            if open == Open::Pipe {
                return;
            }
            let start = out.len();
            create_context(
                out,
                b"MxAc",
                |out| {
                    u32le(out, 0);
                    u32le(out, 0x001f_01ff);
                },
                false,
            );
            if let Open::CreateFile { .. } = open {
                create_context(out, b"RqLs", |out| lease_v2(out, &lease_key, &parent_key, 1), false);
                create_context(
                    out,
                    b"DH2Q",
                    |out| {
                        u32le(out, 180_000);
                        u32le(out, 0);
                    },
                    false,
                );
            }
            create_context(
                out,
                b"QFid",
                |out| {
                    out.extend_from_slice(opaque::slice(rng, 16));
                    out.extend_from_slice(&[0; 16]);
                },
                true,
            );
            patch_u32(out, ctx_at, (start - hdr_at) as u32);
            let ctx_len = (out.len() - start) as u32;
            patch_u32(out, ctx_at + 4, ctx_len);
        });
        file
    }

    /// CLOSE of `file`. With `post_query` (the file's size) the server returns its attributes, as
    /// Windows asks for files; without (pipes) the answer is zeros.
    #[allow(clippy::too_many_arguments)]
    pub fn close(
        &mut self,
        rng: &mut Rng,
        now_ns: u64,
        tree: Tree,
        file: FileId,
        post_query: Option<u64>,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) {
        let flags = u16::from(post_query.is_some());
        let p = self.request(req, rng, CLOSE, 1, 1, PRIORITY_3, tree.id, |out, _, _| {
            u16le(out, 24);
            u16le(out, flags);
            u32le(out, 0);
            file.write(out);
        });
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_3, |out, _, _| {
            u16le(out, 60);
            u16le(out, flags);
            u32le(out, 0);
            match post_query {
                Some(size) => {
                    for _ in 0..4 {
                        u64le(out, filetime(now_ns));
                    }
                    u64le(out, round_alloc(size));
                    u64le(out, size);
                    u32le(out, 0x20);
                }
                None => out.extend_from_slice(&[0; 52]),
            }
        });
    }

    /// WRITE of `data` at `offset` (credit charge per 64 KiB); the server confirms the full count.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        rng: &mut Rng,
        tree: Tree,
        file: FileId,
        offset: u64,
        data: Payload,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) {
        let len = data.len();
        let charge = credit_charge(len);
        let p = self.request(req, rng, WRITE, charge, charge, PRIORITY_3, tree.id, |out, _, rng| {
            u16le(out, 49);
            u16le(out, (HEADER_LEN + 48) as u16);
            u32le(out, len as u32);
            u64le(out, offset);
            file.write(out);
            out.extend_from_slice(&[0; 16]);
            data.append(out, rng);
        });
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_3, |out, _, _| {
            u16le(out, 17);
            u16le(out, 0);
            u32le(out, len as u32);
            out.extend_from_slice(&[0; 8]);
        });
    }

    /// READ of up to `requested` bytes at `offset`, answered with `data` (not longer than asked).
    #[allow(clippy::too_many_arguments)]
    pub fn read(
        &mut self,
        rng: &mut Rng,
        tree: Tree,
        file: FileId,
        offset: u64,
        requested: u32,
        data: Payload,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) {
        assert!(data.len() <= requested as usize, "a READ answer of {} bytes to {requested} asked", data.len());
        let charge = credit_charge(requested as usize);
        let p = self.request(req, rng, READ, charge, charge, PRIORITY_3, tree.id, |out, _, _| {
            u16le(out, 49);
            out.push(0x50);
            out.push(0);
            u32le(out, requested);
            u64le(out, offset);
            file.write(out);
            // Minimum count, channel, remaining bytes, channel info; then the 1-byte buffer.
            out.extend_from_slice(&[0; 17]);
        });
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_3, |out, _, rng| {
            u16le(out, 17);
            out.push((HEADER_LEN + 16) as u8);
            out.push(0);
            u32le(out, data.len() as u32);
            u64le(out, 0);
            data.append(out, rng);
        });
    }

    /// IOCTL FSCTL_PIPE_TRANSCEIVE: writes `input` (a DCE/RPC PDU) to the pipe and reads `output`.
    /// Returns how many bytes of `output` did not fit `max_output` (Windows asks 1024 for SVCCTL):
    /// the server then answers STATUS_BUFFER_OVERFLOW and the caller READs the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn pipe_transceive(
        &mut self,
        rng: &mut Rng,
        tree: Tree,
        pipe: FileId,
        input: &[u8],
        output: &[u8],
        max_output: u32,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) -> usize {
        let ctl = FSCTL_PIPE_TRANSCEIVE;
        let charge = credit_charge(input.len().max(max_output as usize));
        let p = self.request(req, rng, IOCTL, charge, charge, PRIORITY_3, tree.id, |out, _, _| {
            ioctl_request_body(out, ctl, pipe, input, max_output)
        });
        let delivered = output.len().min(max_output as usize);
        let status = if delivered < output.len() { STATUS_BUFFER_OVERFLOW } else { STATUS_SUCCESS };
        self.response(resp, rng, &p, status, PRIORITY_3, |out, _, _| {
            ioctl_response_body(out, ctl, pipe, &output[..delivered])
        });
        output.len() - delivered
    }

    /// QUERY_INFO (FILE_INFO class) of `file`, whose size is `size`.
    #[allow(clippy::too_many_arguments)]
    pub fn query_info(
        &mut self,
        rng: &mut Rng,
        now_ns: u64,
        tree: Tree,
        file: FileId,
        class: InfoClass,
        size: u64,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) {
        let (level, max) = match class {
            InfoClass::Standard => (0x05u8, 24u32),
            InfoClass::NetworkOpen => (0x22, 56),
        };
        let p = self.request(req, rng, QUERY_INFO, 1, 1, PRIORITY_3, tree.id, |out, _, _| {
            u16le(out, 41);
            out.push(1);
            out.push(level);
            u32le(out, max);
            u16le(out, (HEADER_LEN + 40) as u16);
            u16le(out, 0);
            out.extend_from_slice(&[0; 12]);
            file.write(out);
        });
        let pipe = tree.share_type == ShareType::Pipe;
        let times = past_times(rng, now_ns);
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_3, |out, _, _| {
            u16le(out, 9);
            u16le(out, (HEADER_LEN + 8) as u16);
            u32le(out, max);
            let allocation = if pipe { 4096 } else { round_alloc(size) };
            match class {
                InfoClass::Standard => {
                    u64le(out, allocation);
                    u64le(out, size);
                    u32le(out, 1);
                    // A pipe's server end reports delete pending, as Windows does.
                    out.extend_from_slice(&[u8::from(pipe), 0, 0, 0]);
                }
                InfoClass::NetworkOpen => {
                    for t in times {
                        u64le(out, t);
                    }
                    u64le(out, allocation);
                    u64le(out, size);
                    u32le(out, 0x20);
                    u32le(out, 0);
                }
            }
        });
    }

    /// QUERY_DIRECTORY (FileIdBothDirectoryInformation) of `dir` matching `pattern`, answered with
    /// `entries`, or STATUS_NO_MORE_FILES when there are none (the end of a listing).
    #[allow(clippy::too_many_arguments)]
    pub fn query_directory(
        &mut self,
        rng: &mut Rng,
        now_ns: u64,
        tree: Tree,
        dir: FileId,
        pattern: &str,
        entries: &[DirEntry],
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) {
        let p = self.request(req, rng, QUERY_DIRECTORY, 1, 1, PRIORITY_3, tree.id, |out, _, _| {
            u16le(out, 33);
            out.push(0x25);
            out.push(0);
            u32le(out, 0);
            dir.write(out);
            u16le(out, (HEADER_LEN + 32) as u16);
            u16le(out, utf16_len(pattern) as u16);
            u32le(out, CREDIT_UNIT as u32);
            push_utf16(out, pattern);
        });
        if entries.is_empty() {
            self.response(resp, rng, &p, STATUS_NO_MORE_FILES, PRIORITY_3, |out, _, _| error_body(out));
            return;
        }
        let mut listing = Vec::with_capacity(entries.len() * 136);
        for (i, e) in entries.iter().enumerate() {
            let at = listing.len();
            u32le(&mut listing, 0);
            u32le(&mut listing, 0);
            for t in past_times(rng, now_ns) {
                u64le(&mut listing, t);
            }
            u64le(&mut listing, e.size);
            u64le(&mut listing, round_alloc(e.size));
            u32le(&mut listing, if e.is_dir { 0x10 } else { 0x20 });
            u32le(&mut listing, utf16_len(e.name) as u32);
            u32le(&mut listing, 0);
            // Short name length and reserved, 24-byte short name, reserved; then the file id.
            listing.extend_from_slice(&[0; 28]);
            listing.extend_from_slice(opaque::slice(rng, 8));
            push_utf16(&mut listing, e.name);
            if i + 1 < entries.len() {
                while !(listing.len() - at).is_multiple_of(8) {
                    listing.push(0);
                }
                let next = (listing.len() - at) as u32;
                patch_u32(&mut listing, at, next);
            }
        }
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_3, |out, _, _| {
            u16le(out, 9);
            u16le(out, (HEADER_LEN + 8) as u16);
            u32le(out, listing.len() as u32);
            out.extend_from_slice(&listing);
        });
    }
}
