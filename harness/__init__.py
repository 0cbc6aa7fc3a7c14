# Doppel test harness: a streaming KTAP v1 parser (ktap), targets that run the
# kernel under doppel-sim or QEMU (targets/), failure reports (report) and the
# pytest plugin (plugin). Protocol between kernel and harness: docs/protocol.md.
