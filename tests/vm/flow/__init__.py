"""The whole nearpath flow on real parts (issue 9): scenario wiring, guest-side CSI client, workload.

- :mod:`tests.vm.flow.stack`: host side (API server test bed, operator, CSI controller processes)
  and guest side (target agent + CSI node plugin in every VM), wired as a cluster would be.
- :mod:`tests.vm.flow.csi_call`: a tiny CSI gRPC client; runs on the host (controller socket)
  and inside guests (node plugin socket) from a JSON request.
- :mod:`tests.vm.flow.workload`: checksummed O_DIRECT writer/verifier, run in the consumer guest.
- :mod:`tests.vm.flow.cases`: the fault cases and their measurement (pause, errors, mismatches).
"""
