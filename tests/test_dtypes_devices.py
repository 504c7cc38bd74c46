"""Every model runs forward and backward in float32 and bfloat16, on the CPU and (when present) on CUDA."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from reference_impl.bert import BertConfig, BertForPretraining, BertForQuestionAnswering
from reference_impl.device import pick_device
from reference_impl.gpt import GPT, GPTConfig
from reference_impl.multimodal import LlavaStyle, UnitStyle
from reference_impl.speech import SpeechConfig, SpeechRecognizer
from reference_impl.transformer import Transformer, TransformerConfig
from reference_impl.vit import ViT, ViTConfig

VIT = ViTConfig(image_size=8, patch_size=4, d_model=32, n_heads=4, d_ff=64, n_layers=1)


def cases() -> dict[str, tuple[Callable[[], torch.nn.Module], Callable[[torch.device], tuple]]]:
    ids = lambda d, v=20, shape=(2, 7): (torch.randint(1, v, shape, device=d),)
    return {
        "transformer": (lambda: Transformer(TransformerConfig(20, 20, d_model=32, n_heads=4, d_ff=64)),
                        lambda d: ids(d) + ids(d, shape=(2, 5))),
        "bert": (lambda: BertForPretraining(BertConfig(20, d_model=32, n_heads=4, d_ff=64)), ids),
        "bert_qa": (lambda: BertForQuestionAnswering(BertConfig(20, d_model=32, n_heads=4, d_ff=64)), ids),
        "gpt": (lambda: GPT(GPTConfig(20, d_model=32, n_heads=4, n_layers=2)), ids),
        "gpt_rope": (lambda: GPT(GPTConfig(20, d_model=32, n_heads=4, n_layers=2, positions="rope")), ids),
        "vit": (lambda: ViT(VIT), lambda d: (torch.rand(2, 1, 8, 8, device=d),)),
        "speech": (lambda: SpeechRecognizer(SpeechConfig(d_model=32, n_heads=4, n_layers=1)),
                   lambda d: (torch.randn(2, 40, 40, device=d), torch.tensor([40, 31], device=d))),
        "llava": (lambda: LlavaStyle(VIT, GPTConfig(20, d_model=32, n_heads=4, n_layers=1)),
                  lambda d: (torch.rand(2, 1, 8, 8, device=d),) + ids(d)),
        "unit": (lambda: UnitStyle(VIT, {"digit": 10}), lambda d: (torch.rand(2, 1, 8, 8, device=d), "digit")),
    }


def first_tensor(out: object) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out[0]


@pytest.mark.parametrize("name", list(cases()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forward_backward(name: str, dtype: torch.dtype, device: torch.device) -> None:
    torch.manual_seed(0)
    build, inputs = cases()[name]
    model = build().to(device=device, dtype=dtype)
    args = tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in inputs(device))
    out = first_tensor(model(*args))
    assert out.device.type == device.type and out.dtype == dtype
    assert torch.isfinite(out).all()
    out.float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if dtype == torch.bfloat16:  # bfloat16 follows float32 to within its precision
        ref = build().to(device)
        ref.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
        args32 = tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
        expected = first_tensor(ref(*args32))
        assert (out.float() - expected).abs().max() <= 0.1 * expected.abs().max() + 0.05


def test_pick_device() -> None:
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            pick_device("cuda")


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(50, d_model=64, n_heads=4, n_layers=2)).eval()
    idx = torch.randint(0, 50, (2, 16))
    expected = model(idx)
    torch.testing.assert_close(model.cuda()(idx.cuda()).cpu(), expected, atol=1e-4, rtol=1e-4)
    assert torch.equal(model.generate(idx.cuda(), 8, temperature=0).cpu(), model.cpu().generate(idx, 8, temperature=0))
