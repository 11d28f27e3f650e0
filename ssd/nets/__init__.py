"""Networks: the ResNet backbone and the auxiliary-task modules."""
