# torch.autograd.detect_anomaly: a backward pass producing NaN names the op whose backward did it.
import torch

x = torch.tensor([0.0, 1.0], requires_grad=True)
with torch.autograd.detect_anomaly():
    y = torch.sqrt(x) * 0.0
    try:
        y.sum().backward()
        print("no error")
    except RuntimeError as e:
        print(str(e).splitlines()[0])
print(torch.is_anomaly_enabled())
torch.autograd.set_detect_anomaly(True)
print(torch.is_anomaly_enabled())
torch.autograd.set_detect_anomaly(False)
