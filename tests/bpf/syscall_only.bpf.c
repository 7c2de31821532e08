/* A program that is no sched_ext scheduler: one syscall program and no kfunc call. check-prog
 * checks it against the newest model (or --model) and finds 0 call sites. */
__attribute__((section("syscall"), used)) int probe(void *ctx) { return 0; }
char _license[] __attribute__((section("license"), used)) = "GPL";
