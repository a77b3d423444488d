#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scimkit_filter::fuzzing::path_parse(data));
