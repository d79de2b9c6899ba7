from . import convnext as convnext  # registers the models, as timm/models/__init__.py does
