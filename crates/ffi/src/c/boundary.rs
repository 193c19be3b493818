//! The panic boundary every exported function runs in, for every return
//! type, and the thread-local detail of the last failure.

use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::hypar_result;
use crate::shared::ForeignError;

/// What C gets back when an exported function's body panics.
pub(crate) trait PanicOrDefault {
    fn on_panic() -> Self;
}

impl PanicOrDefault for hypar_result {
    fn on_panic() -> Self {
        hypar_result::HYPAR_ERR_PANIC
    }
}

impl PanicOrDefault for () {
    fn on_panic() {}
}

impl PanicOrDefault for usize {
    fn on_panic() -> Self {
        0
    }
}

impl<T> PanicOrDefault for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl PanicOrDefault for *const c_char {
    /// Functions returning a string promise never to return NULL.
    fn on_panic() -> Self {
        c"".as_ptr()
    }
}

/// What an exported function's body returns, and how it becomes the C
/// return value.
pub(crate) trait IntoC {
    type C: PanicOrDefault;
    fn into_c(self) -> Self::C;
}

/// A fallible body: `Ok` is `HYPAR_OK`; a failure becomes its code, with its
/// message kept for `hypar_last_error`.
impl IntoC for Result<(), ForeignError> {
    type C = hypar_result;
    fn into_c(self) -> hypar_result {
        match self {
            Ok(()) => hypar_result::HYPAR_OK,
            Err(e) => {
                let code = hypar_result::from(e.kind);
                set_last_error(e.message);
                code
            }
        }
    }
}

impl IntoC for () {
    type C = ();
    fn into_c(self) {}
}

impl IntoC for usize {
    type C = usize;
    fn into_c(self) -> usize {
        self
    }
}

impl<T> IntoC for *mut T {
    type C = *mut T;
    fn into_c(self) -> *mut T {
        self
    }
}

impl IntoC for &'static CStr {
    type C = *const c_char;
    fn into_c(self) -> *const c_char {
        self.as_ptr()
    }
}

/// Run an exported function's body. A panic never crosses into C: it
/// becomes the return type's panic value and the detail of the last error.
pub(crate) fn boundary<R: IntoC>(body: impl FnOnce() -> R) -> R::C {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r.into_c(),
        Err(panic) => {
            let what =
                panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
            set_last_error(format!("internal error (please report it): {}", what.unwrap_or("a panic")));
            R::C::on_panic()
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = message);
}

/// Run `f` on the calling thread's last error message ("" if none).
pub(crate) fn with_last_error<R>(f: impl FnOnce(&str) -> R) -> Option<R> {
    LAST_ERROR.try_with(|e| f(&e.borrow())).ok()
}
