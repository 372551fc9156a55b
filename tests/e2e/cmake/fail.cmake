# Used by tests/e2e/CMakeLists.txt when the end-to-end tests cannot run: fail loudly, never skip.
message(FATAL_ERROR "${MSG}")
