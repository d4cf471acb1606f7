//! Integration tests of the `data` module: reading IDX files, locating and fetching data
//! sets, and the synthetic generator. Real data is found as `bsp-sim` finds it
//! (`BSP_SIM_DATA`, `./data`, the user cache; downloaded there if absent).

#[path = "data/common.rs"]
mod common;
#[path = "data/fetch.rs"]
mod fetch;
#[path = "data/idx_errors.rs"]
mod idx_errors;
#[path = "data/locate.rs"]
mod locate;
#[path = "data/real.rs"]
mod real;
#[path = "data/synthetic.rs"]
mod synthetic;
