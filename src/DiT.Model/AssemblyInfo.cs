using System.Runtime.CompilerServices;

// The DiT sub-modules are internal (only DiTModel is the public surface); the tests reach the label embedder directly.
[assembly: InternalsVisibleTo("DiT.Model.Tests")]
