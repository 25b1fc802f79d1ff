// The page's small fixes to Gradio's own widgets (loaded by demo/ui.py into the page's <head>):
// plain words for the queue, remove buttons named after the person, hover names on the faces, and the
// faces marked by who is selected (not by the last click).
(() => {
  const QUEUE = /queue:\s*(\d+)\s*\/\s*(\d*)/;

  function queueWording(root) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const match = node.data.match(QUEUE);
      if (match) {
        const ahead = Number(match[1]) - 1;
        node.data = node.data.replace(QUEUE, ahead > 0
          ? `Waiting for another visitor's run to finish: ${ahead} more ahead of you`
          : "Waiting for another visitor's run to finish: you are next");
      }
    }
  }

  function selectedNames() {
    return new Set([...document.querySelectorAll("#selection .token")].map(
      (token) => token.querySelector("span")?.textContent.trim()).filter(Boolean));
  }

  function tidy() {
    queueWording(document.body);
    for (const token of document.querySelectorAll("#selection .token")) {
      const name = token.querySelector("span")?.textContent.trim();
      const remove = token.querySelector(".token-remove");
      if (name && remove && remove.getAttribute("aria-label") !== `Remove ${name}`) {
        remove.setAttribute("aria-label", `Remove ${name}`);
        remove.setAttribute("title", `Remove ${name}`);
      }
    }
    const chosen = selectedNames();
    for (const item of document.querySelectorAll("#faces .thumbnail-item")) {
      const name = item.querySelector(".caption-label")?.textContent.trim();
      if (!name) continue;
      if (item.title !== name) item.title = name;
      item.classList.toggle("chosen", chosen.has(name));
    }
  }

  let pending = false;
  new MutationObserver(() => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; tidy(); });
    }
  }).observe(document.documentElement, {subtree: true, childList: true, characterData: true});
})();
