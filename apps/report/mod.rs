//! zcnet-bench-report's parts: the runs log, the figures, the tables and
//! charts of each benchmark, and the parsers of other tools' outputs.

pub mod all;
pub mod chart;
pub mod cpu_time;
pub mod fwd;
pub mod http;
pub mod markdown;
pub mod page;
pub mod pair;
pub mod runs;
pub mod scale;
pub mod smoke;
pub mod summary;
pub mod tool_output;
pub mod udp_zc;
