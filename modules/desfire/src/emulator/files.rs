//! Standard data files of the emulator: CreateStdDataFile, ReadData and WriteData, the
//! access rights that decide their mode, and the card's file memory.

use crate::commands::{MAX_FILE_NO, code, from_u24};
use crate::status::{
    AUTHENTICATION_ERROR, BOUNDARY_ERROR, DUPLICATE_ERROR, FILE_NOT_FOUND, LENGTH_ERROR,
    OUT_OF_EEPROM, PARAMETER_ERROR, PERMISSION_DENIED,
};
use crate::types::{Access, AccessRights, Aid, CommMode};

use super::{Application, CardEmulator, CardResult, FILE_MEMORY_BYTES, Outcome, StdFile};

impl CardEmulator {
    pub(super) fn create_std_data_file(&mut self, data: &[u8]) -> CardResult<Outcome> {
        if self.selected == Aid::PICC {
            return Err(PERMISSION_DENIED);
        }
        let mode = self.creation_mode(self.current_app().key_settings)?;
        let (_, payload) = self.receive(code::CREATE_STD_DATA_FILE, data, 0, mode)?;
        // Only the 7-byte form: no ISO file id.
        let [file_no, option, r0, r1, s0, s1, s2] = payload[..] else {
            return Err(LENGTH_ERROR);
        };
        if option & !0x03 != 0 {
            return Err(PARAMETER_ERROR);
        }
        let size = from_u24([s0, s1, s2]);
        let used = self.used_file_memory();
        create_file(
            self.current_app_mut(),
            used,
            file_no,
            CommMode::from_file_option_bits(option),
            AccessRights::from_bytes([r0, r1]),
            vec![0; size],
        )?;
        Ok(Outcome::Data(self.reply(mode, &[])?))
    }

    pub(super) fn used_file_memory(&self) -> usize {
        self.applications
            .values()
            .flat_map(|app| app.files.values())
            .map(|file| file.data.len())
            .sum()
    }

    /// The mode of a data access to `file_no`, if the current authentication allows it:
    /// free access is plain, keyed access uses the file's mode.
    fn access_mode(&self, file_no: u8, write: bool) -> CardResult<CommMode> {
        let file = self
            .current_app()
            .files
            .get(&file_no)
            .ok_or(FILE_NOT_FOUND)?;
        let single = if write {
            file.access.write
        } else {
            file.access.read
        };
        let conditions = [single, file.access.read_write];
        if conditions.contains(&Access::Free) {
            return Ok(CommMode::Plain);
        }
        let key = self.authenticated_key();
        if conditions.iter().any(|c| c.allows(key)) {
            return Ok(file.comm_mode);
        }
        if key.is_none() && conditions.iter().any(|c| matches!(c, Access::Key(_))) {
            return Err(AUTHENTICATION_ERROR);
        }
        Err(PERMISSION_DENIED)
    }

    /// Parses the 7-byte ReadData/WriteData header and checks the range against the file.
    fn data_range(&self, header: &[u8], write: bool) -> CardResult<(u8, usize, usize)> {
        let [file_no, o0, o1, o2, l0, l1, l2] = header[..] else {
            return Err(LENGTH_ERROR);
        };
        let size = self
            .current_app()
            .files
            .get(&file_no)
            .map(|f| f.data.len())
            .ok_or(FILE_NOT_FOUND)?;
        let offset = from_u24([o0, o1, o2]);
        let mut length = from_u24([l0, l1, l2]);
        if length == 0 {
            if write {
                return Err(LENGTH_ERROR);
            }
            length = size.checked_sub(offset).ok_or(BOUNDARY_ERROR)?;
        }
        match offset.checked_add(length) {
            Some(end) if end <= size => Ok((file_no, offset, length)),
            _ => Err(BOUNDARY_ERROR),
        }
    }

    pub(super) fn read_data(&mut self, ins: u8, data: &[u8]) -> CardResult<Outcome> {
        let file_no = *data.first().ok_or(LENGTH_ERROR)?;
        let mode = self.access_mode(file_no, false)?;
        let (header, payload) = self.receive(ins, data, 7, mode)?;
        if !payload.is_empty() {
            return Err(LENGTH_ERROR);
        }
        let (file_no, offset, length) = self.data_range(&header, false)?;
        let content = self
            .current_app()
            .files
            .get(&file_no)
            .and_then(|f| f.data.get(offset..offset + length))
            .ok_or(BOUNDARY_ERROR)?
            .to_vec();
        Ok(Outcome::Data(self.reply(mode, &content)?))
    }

    pub(super) fn write_data(&mut self, ins: u8, data: &[u8]) -> CardResult<Outcome> {
        let file_no = *data.first().ok_or(LENGTH_ERROR)?;
        let mode = self.access_mode(file_no, true)?;
        let (header, payload) = self.receive(ins, data, 7, mode)?;
        let (file_no, offset, length) = self.data_range(&header, true)?;
        if payload.len() != length {
            return Err(LENGTH_ERROR);
        }
        self.current_app_mut()
            .files
            .get_mut(&file_no)
            .and_then(|f| f.data.get_mut(offset..offset + length))
            .ok_or(BOUNDARY_ERROR)?
            .copy_from_slice(&payload);
        Ok(Outcome::Data(self.reply(mode, &[])?))
    }
}

pub(super) fn create_file(
    app: &mut Application,
    used_memory: usize,
    file_no: u8,
    comm_mode: CommMode,
    access: AccessRights,
    data: Vec<u8>,
) -> CardResult<()> {
    if file_no > MAX_FILE_NO || data.is_empty() {
        return Err(PARAMETER_ERROR);
    }
    if app.files.contains_key(&file_no) {
        return Err(DUPLICATE_ERROR);
    }
    if used_memory.saturating_add(data.len()) > FILE_MEMORY_BYTES {
        return Err(OUT_OF_EEPROM);
    }
    app.files.insert(
        file_no,
        StdFile {
            comm_mode,
            access,
            data,
        },
    );
    Ok(())
}
