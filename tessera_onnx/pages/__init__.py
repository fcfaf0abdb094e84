"""Page retrieval (ColPali family): document pages as images, searched by late interaction."""
