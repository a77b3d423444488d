#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scimkit_patch::fuzzing::patch_apply(data));
