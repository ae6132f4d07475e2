"""CPU-fallback warnings of torch device plugins, on log lines as torch_npu prints them."""

from __future__ import annotations

from pathlib import Path

from harness.results.fallback import scan_fallbacks, scan_log_files

# data/torch-npu-fallback.log: lines in the shapes torch_npu writes them (quoted in public
# bug reports: Ascend/pytorch #40 and #51, opendatalab/MinerU #1695, hiyouga/LlamaFactory
# #4135, vllm-omni #755).
LOG = (Path(__file__).with_name("data") / "torch-npu-fallback.log").read_text()


def test_counts_per_backend_and_operator() -> None:
    found = scan_fallbacks(LOG.splitlines())
    assert found == {
        ("npu", "torchvision::nms"): 1,
        ("npu", "aten::isin.Tensor_Tensor_out"): 2,
        ("npu", "aten::_scaled_dot_product_efficient_attention"): 1,
        ("mps", "aten::upsample_bicubic2d.out"): 1,
    }


def test_log_files_are_read_line_by_line(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(LOG)
    b.write_bytes(b"\xff\xfe garbage\n" + LOG.splitlines()[0].encode())
    found = scan_log_files([a, b])
    assert found[("npu", "torchvision::nms")] == 2
