#ifndef PASSLINE_CLIBZIP_SHIM_H
#define PASSLINE_CLIBZIP_SHIM_H
#include <zip.h>

/* Flags and sentinels that are macros in zip.h; Swift imports these typed. */
static inline zip_flags_t passline_zip_fl_overwrite(void) { return ZIP_FL_OVERWRITE; }
static inline zip_flags_t passline_zip_fl_enc_utf_8(void) { return ZIP_FL_ENC_UTF_8; }
static inline int passline_zip_truncate(void) { return ZIP_TRUNCATE; }
static inline int passline_zip_rdonly(void) { return ZIP_RDONLY; }
static inline int passline_zip_checkcons(void) { return ZIP_CHECKCONS; }
static inline zip_int32_t passline_zip_cm_deflate(void) { return ZIP_CM_DEFLATE; }
static inline zip_int32_t passline_zip_cm_store(void) { return ZIP_CM_STORE; }

/* What Passline's in-memory archive source answers to ZIP_SOURCE_SUPPORTS. */
static inline zip_int64_t passline_zip_archive_buffer_supports(void) {
    return ZIP_SOURCE_SUPPORTS_WRITABLE | ZIP_SOURCE_MAKE_COMMAND_BITMASK(ZIP_SOURCE_BEGIN_WRITE_CLONING);
}

#endif
