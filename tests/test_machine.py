"""Machine facts recorded with every run (wylib.machine)."""

from wylib.machine import cpu_model, machine_info


def test_machine_info_has_what_reproducibility_depends_on():
    info = machine_info()
    assert set(info) == {"host", "cpu", "cores", "torch", "torch_cpu_capability", "torch_threads"}
    assert info["torch"].startswith("2.") and info["cores"] >= 1 and info["torch_threads"] >= 1
    import torch

    assert info["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert isinstance(cpu_model(), str) and cpu_model()
